//! Parquet on real files: the three CellProfiler single-cell tables (CytoTable, pyarrow 16–18)
//! in ../shared/data read to what pandas reads (digests made by scripts/parquet_reference.py),
//! and the real LINCS plate written as Parquet reads back identical, whole or as a folder of
//! parts.

use cellpaint_profiles::data::{data_dir_for_tests, data_file, known};
use cellpaint_profiles::io::MetadataColumns;
use cellpaint_profiles::{python_repr, read_table, write_table, ProfileTable, ReadOptions};
use sha2::{Digest, Sha256};

fn digest<'a>(columns: impl Iterator<Item = (&'a str, Vec<String>)>) -> String {
    let mut h = Sha256::new();
    for (name, cells) in columns {
        h.update(name.as_bytes());
        h.update([0x1f]);
        h.update(cells.join("\x1f").as_bytes());
        h.update([0x1e]);
    }
    format!("{:x}", h.finalize())
}

fn feature_cells(table: &ProfileTable, j: usize) -> Vec<String> {
    table
        .features()
        .column(j)
        .iter()
        .map(|&v| python_repr(v))
        .collect()
}

#[test]
fn real_cellprofiler_parquet_files_read_as_pandas_reads_them() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/parquet_reference.json"
    )))
    .unwrap();
    let prefixes: Vec<String> = fixture["metadata_prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let options = ReadOptions {
        metadata: MetadataColumns::Prefixes(prefixes),
        ..Default::default()
    };
    let files = fixture["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for want in files {
        let path = data_file(&dir, want["file"].as_str().unwrap()).unwrap();
        let table = read_table(&path, &options).unwrap();
        let name = want["file"].as_str().unwrap();
        assert_eq!(
            table.n_rows() as u64,
            want["rows"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            table.metadata_names().len() as u64,
            want["metadata"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            table.n_features() as u64,
            want["features"].as_u64().unwrap(),
            "{name}"
        );
        // Values first, by the columns shown in clear, so that a failure says where.
        for (column, cells) in want["sample"].as_object().unwrap() {
            let want: Vec<&str> = cells
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let ours = match table.metadata(column) {
                Ok(m) => m.to_vec(),
                Err(_) => feature_cells(&table, table.feature_index(column).unwrap()),
            };
            assert_eq!(ours, want, "{name}: column {column}");
        }
        // Every cell: metadata as pandas' CSV prints it, features to the bit (as repr), with
        // the names in the file's order within each kind.
        let meta = digest(
            table
                .metadata_names()
                .iter()
                .map(|n| (n.as_str(), table.metadata(n).unwrap().to_vec())),
        );
        assert_eq!(
            meta,
            want["metadata_sha256"].as_str().unwrap(),
            "{name}: metadata"
        );
        let feats = digest(
            table
                .feature_names()
                .iter()
                .enumerate()
                .map(|(j, n)| (n.as_str(), feature_cells(&table, j))),
        );
        assert_eq!(
            feats,
            want["features_sha256"].as_str().unwrap(),
            "{name}: features"
        );
    }
}

fn same_table(a: &ProfileTable, b: &ProfileTable) {
    assert_eq!(a.metadata_names(), b.metadata_names());
    assert_eq!(a.feature_names(), b.feature_names());
    for n in a.metadata_names() {
        assert_eq!(a.metadata(n).unwrap(), b.metadata(n).unwrap(), "{n}");
    }
    let same = a
        .features()
        .iter()
        .zip(b.features().iter())
        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
    assert!(same, "features differ");
}

#[test]
fn the_lincs_plate_round_trips_through_parquet_whole_and_in_parts() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let plate = read_table(
        data_file(&dir, known::LINCS_PLATE).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert!(plate.n_rows() == 384 && plate.n_features() == 454);
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("plate.parquet");
    write_table(&plate, &whole).unwrap();
    let back = read_table(&whole, &ReadOptions::default()).unwrap();
    same_table(&plate, &back);

    // A folder of parts (as Spark, DuckDB and CytoTable write them) is one table.
    let parts = tmp.path().join("parts");
    let n = plate.n_rows();
    let cuts = [0, n / 3, 2 * n / 3, n];
    for k in 0..3 {
        let rows: Vec<usize> = (cuts[k]..cuts[k + 1]).collect();
        write_table(
            &plate.select_rows(&rows),
            parts.join(format!("part-{k}.parquet")),
        )
        .unwrap();
    }
    std::fs::write(parts.join("_SUCCESS"), "").unwrap();
    let joined = read_table(&parts, &ReadOptions::default()).unwrap();
    same_table(&plate, &joined);

    // A part with other columns is refused, naming it and the column.
    let other = parts.join("part-3.parquet");
    write_table(&plate.select_features(&[1, 0]), &other).unwrap();
    let e = read_table(&parts, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("part-3.parquet") && e.contains("same columns"),
        "{e}"
    );
}

/// `aggregate_parquet` (streamed, column by column) gives exactly what `aggregate` gives on the
/// table read whole: the real CellProfiler single-cell files (per well), the real LINCS plate
/// as a folder of parts (per compound, with NaN cells, median and mean).
#[test]
fn streamed_parquet_aggregation_equals_the_in_memory_one() {
    use cellpaint_profiles::{aggregate, aggregate_parquet, AggregateOp};
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let cells = MetadataColumns::Prefixes(vec!["Metadata_".into(), "Image_".into()]);
    for (file, strata) in [
        (
            "images/nf1_schwann_3ch/Plate_2_with_image_data_shrunken.parquet",
            ["Image_Metadata_Plate_x", "Image_Metadata_Well_x"],
        ),
        (
            "images/cellpainting_partial/jump_cpjump1_BR00117006_A01_site1/BR00117006_shrunken.parquet",
            ["Metadata_Plate", "Metadata_Well"],
        ),
    ] {
        let path = data_file(&dir, file).unwrap();
        let options = ReadOptions {
            metadata: cells.clone(),
            ..Default::default()
        };
        let whole = read_table(&path, &options).unwrap();
        for op in [AggregateOp::Median, AggregateOp::Mean] {
            let want = aggregate(&whole, &strata, op).unwrap();
            let got = aggregate_parquet(&path, &cells, &strata, op).unwrap();
            same_table(&want, &got);
        }
    }

    let mut plate = read_table(
        data_file(&dir, known::LINCS_PLATE).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap();
    for (k, v) in plate.features_mut().iter_mut().enumerate() {
        if k % 97 == 0 {
            *v = f64::NAN;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let parts = tmp.path().join("cells");
    let n = plate.n_rows();
    for k in 0..4 {
        let rows: Vec<usize> = (k * n / 4..(k + 1) * n / 4).collect();
        write_table(
            &plate.select_rows(&rows),
            parts.join(format!("part-{k}.parquet")),
        )
        .unwrap();
    }
    let strata = ["Metadata_Plate", "Metadata_broad_sample"];
    for op in [AggregateOp::Median, AggregateOp::Mean] {
        let want = aggregate(&plate, &strata, op).unwrap();
        assert!(want.n_rows() > 50 && want.n_rows() < n, "{}", want.n_rows());
        let got = aggregate_parquet(&parts, &MetadataColumns::default(), &strata, op).unwrap();
        same_table(&want, &got);
    }
    // Strata that are not metadata columns are refused by name.
    let e = aggregate_parquet(
        &parts,
        &MetadataColumns::default(),
        &["Metadata_nope"],
        AggregateOp::Median,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Metadata_nope"), "{e}");
}
