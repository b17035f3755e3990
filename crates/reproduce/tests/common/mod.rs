//! What every reproduction test checks of its output directory.

use std::path::Path;

use reproduce::report::Claim;

/// Reads `report.md` and `claims.json` from `dir` and checks that the report has every section
/// in `sections`, that every figure it links exists and is an SVG or a PNG, and that claim ids
/// are unique. Returns the report text and the claims.
pub fn check_outputs(dir: &Path, sections: &[&str]) -> (String, Vec<Claim>) {
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for s in sections {
        assert!(report.contains(s), "report.md lacks '{s}'");
    }
    for line in report.lines().filter(|l| l.starts_with("![")) {
        let file = &line[line.find("](").unwrap() + 2..line.len() - 1];
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let svg = bytes.starts_with(b"<svg");
        let png = bytes.len() > 4 && &bytes[1..4] == b"PNG";
        let wanted = if file.ends_with(".svg") { svg } else { png };
        assert!(wanted, "{file} is not the image its name says");
    }
    let claims: Vec<Claim> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("claims.json")).unwrap()).unwrap();
    let ids: std::collections::BTreeSet<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), claims.len(), "claim ids are unique");
    (report, claims)
}
