//! The public catalogues stay complete: every problem `code` raised in the sources is in
//! `docs/problems.md` (regenerate it with `scripts/problem-catalogue.py`).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level arguments of the call whose `(` opens `text`, as written.
fn args(text: &str) -> Vec<String> {
    let (mut depth, mut quote, mut escape, mut cur, mut out) = (0, false, false, String::new(), vec![]);
    for c in text.chars() {
        if quote {
            cur.push(c);
            if escape {
                escape = false;
            } else if c == '\\' {
                escape = true;
            } else if c == '"' {
                quote = false;
            }
            continue;
        }
        match c {
            '"' => {
                quote = true;
                cur.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > 1 {
                    cur.push(c);
                }
            }
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    out.push(cur.trim().to_owned());
                    return out;
                }
                cur.push(c);
            }
            ',' if depth == 1 => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(c),
        }
    }
    out
}

/// Every code literal raised by a `DomainError` or `ApiError` constructor outside tests.
fn raised_codes() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![];
    for krate in ["domain", "storage", "server", "cli"] {
        sources(&root.join("crates").join(krate).join("src"), &mut files);
    }
    let mut codes = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (token, pos) in
            [("::invalid(", 1), ("::field(", 1), ("::new(StatusCode", 1), ("::rule(", 0), ("::conflict(", 0), ("::not_found(", 0)]
        {
            for (at, _) in text.match_indices(token) {
                let before = &text[..at];
                if !(before.ends_with("DomainError") || before.ends_with("ApiError")) {
                    continue;
                }
                let open = at + token.find('(').unwrap();
                let a = args(&text[open..]);
                if a.len() <= pos + 1 {
                    continue;
                }
                // A literal, or each literal of an `if … { "a" } else { "b" }`.
                let arg = &a[pos];
                let literals: Vec<&str> = if arg.starts_with("if ") {
                    arg.split('"').skip(1).step_by(2).collect()
                } else {
                    arg.strip_prefix('"').and_then(|c| c.strip_suffix('"')).into_iter().collect()
                };
                for code in literals {
                    if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                        codes.push(code.to_owned());
                    }
                }
            }
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn every_problem_code_is_in_the_catalogue() {
    let catalogue = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/problems.md")).unwrap();
    let codes = raised_codes();
    assert!(codes.len() > 100, "the scan found only {} codes", codes.len());
    // Codes chosen by a table rather than passed to a constructor.
    let tabled = ["unknown_field", "missing_field", "invalid_field", "bad_request", "uri_too_long", "headers_too_large"];
    let codes: Vec<String> = codes.into_iter().chain(tabled.iter().map(|c| c.to_string())).collect();
    let missing: Vec<&String> = codes.iter().filter(|c| !catalogue.contains(&format!("| `{c}` |"))).collect();
    assert!(missing.is_empty(), "not in docs/problems.md (run scripts/problem-catalogue.py): {missing:?}");
}
