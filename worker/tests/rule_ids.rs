//! Every rule id the code reports exists in the catalogue, so a typo cannot
//! silently weigh nothing (release builds do not run the debug assertion).

mod common;

fn source_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn reported_rule_ids_are_in_the_catalogue() {
    let mut files = Vec::new();
    source_files(&common::root().join("worker/src"), &mut files);
    let rules = common::engine().rules();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for call in ["f.add(", "f.add_scaled(", "self.finding(", "f.has("] {
            for (at, _) in text.match_indices(call) {
                // rustfmt may put the id on the next line.
                let Some(rest) = text[at + call.len()..].trim_start().strip_prefix('"') else {
                    continue;
                };
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if id.is_empty() || !rest[id.len()..].starts_with('"') {
                    continue;
                }
                assert!(
                    rules.score(&id).is_some(),
                    "{}: rule `{id}` is not in the catalogue",
                    file.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 80,
        "only {checked} rule references found; did the call style change?"
    );
}
