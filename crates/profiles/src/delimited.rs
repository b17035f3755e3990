//! Reading delimited tables (CSV/TSV) on every core.
//!
//! The input is read in windows of a few megabytes. A window without a quote character (or a
//! lone carriage return) is cut at line ends into pieces parsed in parallel, since then every
//! line end ends a record and every delimiter a field; a window holding one is parsed by csv in
//! one piece, up to its last record known to be complete, since a quoted field may hold a line
//! end. Memory holds one window besides the
//! table, whatever the size of the file.

use std::io::Read;

use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{ProfileError, Result};
use crate::io::{parse_feature, shown, MetadataColumns};
use crate::table::ProfileTable;

/// Bytes read before the buffered lines are parsed.
const WINDOW: usize = 8 << 20;

/// What a table's columns are, and where errors go.
struct Layout<'a> {
    label: &'a str,
    delimiter: u8,
    names: Vec<String>,
    meta_idx: Vec<usize>,
    feat_idx: Vec<usize>,
}

/// Rows parsed from one piece of the body, in file order.
#[derive(Default)]
struct Rows {
    meta: Vec<Vec<String>>,
    values: Vec<f64>,
    n: usize,
}

/// Reads a delimited table from any reader; `label` names it in errors.
pub fn read_delimited(
    reader: impl Read,
    label: &str,
    delimiter: u8,
    metadata: &MetadataColumns,
) -> Result<ProfileTable> {
    read_in_windows(reader, label, delimiter, metadata, WINDOW)
}

fn read_in_windows(
    reader: impl Read,
    label: &str,
    delimiter: u8,
    metadata: &MetadataColumns,
    window: usize,
) -> Result<ProfileTable> {
    let mut input = Input {
        reader,
        buf: Vec::new(),
        eof: false,
        window,
    };
    // The header: the first record, once it is buffered whole (a quoted name may hold a line
    // end).
    input.fill_until_line_end(label, 1)?;
    let (names, header_bytes) = loop {
        let mut rdr = reader_for(&input.buf, delimiter);
        let mut header = csv::StringRecord::new();
        let found = rdr
            .read_record(&mut header)
            .map_err(|e| crate::io::csv_error(label, e, 1))?;
        let end = rdr.position().byte() as usize;
        if !input.eof && end >= input.buf.len() {
            input.read_more(label, 1)?;
            continue;
        }
        if !found {
            return Err(ProfileError::invalid(
                label,
                "file is empty (no header line)",
            ));
        }
        let names: Vec<String> = header.iter().map(|s| s.trim().to_string()).collect();
        break (names, end);
    };
    // Duplicates are checked before any row is read so the message points at the header.
    {
        let mut seen = std::collections::HashMap::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(first) = seen.insert(n.as_str(), i) {
                return Err(ProfileError::DuplicateColumn {
                    path: label.to_string(),
                    column: shown(n),
                    first: first + 1,
                    second: i + 1,
                });
            }
        }
    }
    let is_meta: Vec<bool> = names.iter().map(|n| metadata.is_metadata(n)).collect();
    let layout = Layout {
        label,
        delimiter,
        meta_idx: (0..names.len()).filter(|&i| is_meta[i]).collect(),
        feat_idx: (0..names.len()).filter(|&i| !is_meta[i]).collect(),
        names,
    };
    if layout.feat_idx.is_empty() {
        return Err(ProfileError::invalid(
            label,
            "no feature columns: every column is metadata",
        ));
    }
    let mut lines_done = count_lines(&input.buf[..header_bytes]);
    input.buf.drain(..header_bytes);

    let mut table = Rows {
        meta: vec![Vec::new(); layout.meta_idx.len()],
        ..Default::default()
    };
    loop {
        input.fill_until_line_end(label, lines_done + 1)?;
        if input.buf.is_empty() {
            break;
        }
        let consumed = if needs_csv_rules(&input.buf) {
            let consumed = parse_quoted(&input.buf, input.eof, lines_done, &layout, &mut table)?;
            if consumed == 0 && !input.eof {
                // One record longer than the window: widen it.
                input.read_more(label, lines_done + 1)?;
                continue;
            }
            lines_done += count_lines(&input.buf[..consumed]);
            consumed
        } else {
            let cut = if input.eof {
                input.buf.len()
            } else {
                1 + input
                    .buf
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .expect("fill_until_line_end buffers a line end unless at the end")
            };
            lines_done += parse_parallel(&input.buf[..cut], lines_done, &layout, &mut table)?;
            cut
        };
        input.buf.drain(..consumed);
        if input.eof && input.buf.is_empty() {
            break;
        }
    }
    let features = Array2::from_shape_vec((table.n, layout.feat_idx.len()), table.values)
        .expect("row-major buffer has n_rows × n_features values");
    ProfileTable::new(
        label,
        layout
            .meta_idx
            .iter()
            .map(|&i| layout.names[i].clone())
            .collect(),
        table.meta,
        layout
            .feat_idx
            .iter()
            .map(|&i| layout.names[i].clone())
            .collect(),
        features,
    )
}

/// The reader and the bytes read from it but not yet parsed.
struct Input<R> {
    reader: R,
    buf: Vec<u8>,
    eof: bool,
    window: usize,
}

impl<R: Read> Input<R> {
    /// Reads until a window is buffered and it holds a line end, or the input ends. `line` is
    /// the line being read, for I/O errors (a truncated gzip stream has no other position).
    fn fill_until_line_end(&mut self, label: &str, line: usize) -> Result<()> {
        while !self.eof && (self.buf.len() < self.window || !self.buf.contains(&b'\n')) {
            self.read_more(label, line)?;
        }
        Ok(())
    }

    /// One read call's worth more (at most a window), or the end of the input.
    fn read_more(&mut self, label: &str, line: usize) -> Result<()> {
        let start = self.buf.len();
        self.buf.resize(start + self.window.clamp(1, 1 << 20), 0);
        loop {
            match self.reader.read(&mut self.buf[start..]) {
                Ok(k) => {
                    self.buf.truncate(start + k);
                    self.eof = k == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(ProfileError::Parse {
                        path: label.to_string(),
                        line: line + count_lines(&self.buf),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
}

fn reader_for(bytes: &[u8], delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes)
}

/// Whether lines cannot simply be split: a quote (a field may hold a delimiter or a line end)
/// or a carriage return not followed by a line feed (csv ends a record there too).
fn needs_csv_rules(bytes: &[u8]) -> bool {
    memchr::memchr(b'"', bytes).is_some()
        || memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

fn count_lines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Parses whole lines (no quote among them) in pieces, one per task, and appends their rows in
/// order; returns the number of lines parsed. Without quotes a record is a line and a field is
/// what lies between delimiters, so lines are split directly (csv's state machine is not
/// needed). The first error in file order is returned.
fn parse_parallel(
    bytes: &[u8],
    lines_before: usize,
    layout: &Layout<'_>,
    out: &mut Rows,
) -> Result<usize> {
    let pieces = 4 * rayon::current_num_threads().max(1);
    let mut starts = vec![0];
    for k in 1..pieces {
        let at = (bytes.len() * k / pieces).max(*starts.last().expect("non-empty"));
        match bytes[at..].iter().position(|&b| b == b'\n') {
            Some(i) if at + i + 1 < bytes.len() => starts.push(at + i + 1),
            _ => break,
        }
    }
    starts.dedup();
    starts.push(bytes.len());
    // Each piece counts its own lines; an error's line is first counted within its piece and
    // moved to the file's line below, once the lines of the pieces before it are known.
    let parsed: Vec<(usize, Result<Rows>)> = starts
        .windows(2)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|w| {
            let piece = &bytes[w[0]..w[1]];
            let mut rows = Rows {
                meta: vec![Vec::new(); layout.meta_idx.len()],
                ..Default::default()
            };
            let mut fields: Vec<&[u8]> = Vec::with_capacity(layout.names.len());
            let mut lines = 0;
            let mut start = 0;
            while start < piece.len() {
                let end = memchr::memchr(b'\n', &piece[start..]).map_or(piece.len(), |i| start + i);
                let line = &piece[start..end];
                start = end + 1;
                lines += 1;
                let text = line.strip_suffix(b"\r").unwrap_or(line);
                if text.is_empty() {
                    continue; // a blank line, as csv skips it
                }
                fields.clear();
                let mut from = 0;
                for at in memchr::memchr_iter(layout.delimiter, text) {
                    fields.push(&text[from..at]);
                    from = at + 1;
                }
                fields.push(&text[from..]);
                if let Err(e) = push_record(&fields, lines, layout, &mut rows) {
                    return (lines, Err(e));
                }
            }
            (lines, Ok(rows))
        })
        .collect();
    let mut lines_seen = lines_before;
    for (lines, piece) in parsed {
        let piece = piece.map_err(|e| e.at_line_offset(lines_seen))?;
        for (all, part) in out.meta.iter_mut().zip(piece.meta) {
            all.extend(part);
        }
        out.values.extend_from_slice(&piece.values);
        out.n += piece.n;
        lines_seen += lines;
    }
    Ok(lines_seen - lines_before)
}

/// Parses `bytes` in one piece, stopping before a last record that may continue past them
/// (unless the input has ended); returns the bytes consumed.
fn parse_quoted(
    bytes: &[u8],
    eof: bool,
    lines_before: usize,
    layout: &Layout<'_>,
    out: &mut Rows,
) -> Result<usize> {
    let mut rdr = reader_for(bytes, layout.delimiter);
    let mut rec = csv::ByteRecord::new();
    let mut consumed = 0;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Ok(bytes.len()),
            Ok(true) => {}
            Err(e) => return Err(piece_error(layout.label, e, lines_before + 1)),
        }
        let end = rdr.position().byte() as usize;
        if !eof && end >= bytes.len() {
            // Possibly cut by the window: read it again with the next one.
            return Ok(consumed);
        }
        // csv-core counts lines from 1 at the start of these bytes.
        let at = lines_before + record_line(&rec);
        let fields: Vec<&[u8]> = rec.iter().collect();
        push_record(&fields, at, layout, out)?;
        consumed = end;
    }
}

/// A csv error inside a piece: its own position counts from the piece's start, so the line
/// given is used.
fn piece_error(label: &str, e: csv::Error, line: usize) -> ProfileError {
    ProfileError::Parse {
        path: label.to_string(),
        line,
        message: e.to_string(),
    }
}

/// The 1-based line, within the bytes being parsed, that a record starts on.
fn record_line(rec: &csv::ByteRecord) -> usize {
    rec.position().map_or(1, |p| p.line() as usize)
}

/// One record into the rows: metadata as text, features as numbers; `line` is its file line.
fn push_record(rec: &[&[u8]], line: usize, layout: &Layout<'_>, out: &mut Rows) -> Result<()> {
    let names = &layout.names;
    if rec.len() == 1 && rec[0].iter().all(u8::is_ascii_whitespace) {
        return Ok(()); // blank line
    }
    if rec.len() != names.len() {
        return Err(ProfileError::Ragged {
            path: layout.label.to_string(),
            line,
            expected: names.len(),
            found: rec.len(),
        });
    }
    for (m, &i) in layout.meta_idx.iter().enumerate() {
        let text = std::str::from_utf8(rec[i]).map_err(|_| ProfileError::Parse {
            path: layout.label.to_string(),
            line,
            message: format!(
                "column '{}' is not valid UTF-8 text: {}",
                shown(&names[i]),
                shown(&String::from_utf8_lossy(rec[i]))
            ),
        })?;
        out.meta[m].push(text.to_string());
    }
    for &i in &layout.feat_idx {
        // A number is ASCII, and checking that is cheaper than validating UTF-8.
        let value = if rec[i].is_ascii() {
            // SAFETY: every ASCII byte string is valid UTF-8.
            parse_feature(unsafe { std::str::from_utf8_unchecked(rec[i]) })
        } else {
            None
        };
        match value {
            Some(v) => out.values.push(v),
            None => {
                return Err(ProfileError::NotNumeric {
                    path: layout.label.to_string(),
                    line,
                    column: shown(&names[i]),
                    value: shown(&String::from_utf8_lossy(rec[i])),
                })
            }
        }
    }
    out.n += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, window: usize) -> Result<ProfileTable> {
        read_in_windows(
            text.as_bytes(),
            "mem.csv",
            b',',
            &MetadataColumns::default(),
            window,
        )
    }

    /// A table of `rows` rows, some metadata quoted with line ends and delimiters inside when
    /// `quoted`.
    fn text(rows: usize, quoted: bool) -> String {
        let mut t = String::from("Metadata_Well,f1,Metadata_Note,f2\r\n");
        for i in 0..rows {
            let note = if quoted && i % 3 == 0 {
                format!("\"note {i},\nsecond line \"\"q\"\"\"")
            } else {
                format!("n{i}")
            };
            t.push_str(&format!("W{i},{}.25,{note},{}\n", i, -(i as f64) * 1e-3));
            if i % 7 == 0 {
                t.push('\n'); // a blank line
            }
        }
        t
    }

    /// Every window size, from 1 byte up, reads the same table as one window holding the file.
    #[test]
    fn every_window_size_reads_the_same_table() {
        for quoted in [false, true] {
            let t = text(40, quoted);
            let whole = read(&t, 1 << 20).unwrap();
            assert_eq!(whole.n_rows(), 40);
            assert_eq!(whole.features()[[39, 0]], 39.25);
            let notes = whole.metadata("Metadata_Note").unwrap();
            if quoted {
                assert_eq!(notes[3], "note 3,\nsecond line \"q\"");
            }
            for window in 1..120 {
                let part = read(&t, window).unwrap();
                assert_eq!(part.features(), whole.features(), "window {window}");
                assert_eq!(
                    part.metadata("Metadata_Note").unwrap(),
                    notes,
                    "window {window}"
                );
                assert_eq!(
                    part.metadata("Metadata_Well").unwrap(),
                    whole.metadata("Metadata_Well").unwrap()
                );
            }
        }
    }

    /// The line splitter (quote-free windows) against csv itself on the same text: LF and CRLF
    /// line ends, blank lines, a lone CR (which csv also ends a record at, so such a window is
    /// left to csv), tabs.
    #[test]
    fn split_lines_read_as_csv_reads_them() {
        let lf = text(25, false);
        for (t, delimiter) in [
            (lf.clone(), b','),
            (lf.replace('\n', "\r\n"), b','),
            (lf.replace('\n', "\r"), b','),
            (lf.replace(',', "\t"), b'\t'),
        ] {
            let ours = read_in_windows(
                t.as_bytes(),
                "m",
                delimiter,
                &MetadataColumns::default(),
                64,
            )
            .unwrap();
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(true)
                .from_reader(t.as_bytes());
            let mut values = Vec::new();
            let mut wells = Vec::new();
            for rec in rdr.records() {
                let rec = rec.unwrap();
                wells.push(rec[0].to_string());
                values.push(rec[1].parse::<f64>().unwrap());
                values.push(rec[3].parse::<f64>().unwrap());
            }
            assert_eq!(ours.metadata("Metadata_Well").unwrap(), wells);
            assert_eq!(ours.features().iter().copied().collect::<Vec<_>>(), values);
        }
    }

    /// Errors name the file line wherever the window boundaries fall, quoted line ends counted.
    #[test]
    fn errors_name_the_file_line_in_any_window() {
        for quoted in [false, true] {
            let mut t = text(30, quoted);
            let line = t.lines().count() + 1;
            t.push_str("W99,oops,n,1\n");
            for window in [1, 5, 17, 64, 1 << 20] {
                let e = read(&t, window).unwrap_err().to_string();
                assert!(
                    e.contains(&format!("mem.csv, line {line}, column 'f1'"))
                        && e.contains("'oops'"),
                    "window {window}: {e}"
                );
            }
            let mut r = text(30, quoted);
            r.push_str("W99,1\n");
            let e = read(&r, 9).unwrap_err().to_string();
            assert!(
                e.contains(&format!("line {line}")) && e.contains("expected 4"),
                "{e}"
            );
        }
    }
}
