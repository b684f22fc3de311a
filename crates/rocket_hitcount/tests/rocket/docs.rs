//! The crate's doc examples compile in an app that depends on
//! `rocket_hitcount` alone: they name the core's items through
//! `rocket_hitcount`, never as `hitcount::...`, which a doc test resolves
//! only because the core is this crate's own dependency.

use std::path::Path;

/// The doc lines of `dir`'s Rust files that name the core crate bare.
fn bare_core_paths(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the source folder") {
        let path = entry.expect("a source entry").path();
        if path.is_dir() {
            found.extend(bare_core_paths(&path));
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            let doc = line.trim_start();
            if !(doc.starts_with("///") || doc.starts_with("//!")) {
                continue;
            }
            let bare = line.match_indices("hitcount::").any(|(at, _)| {
                let before = &line[..at];
                // An intra-doc link's target resolves in the crate, not in
                // the reader's app.
                let linked = before.ends_with("[`") || before.ends_with("(crate::");
                !linked && !before.ends_with("rocket_") && !before.ends_with("crate::")
            });
            if bare {
                found.push(format!("{}:{}: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn doc_examples_name_the_core_through_this_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bare = bare_core_paths(&src);
    assert!(
        bare.is_empty(),
        "write rocket_hitcount::... (the root re-exports what pages need):\n{}",
        bare.join("\n")
    );
}
