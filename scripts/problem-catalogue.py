#!/usr/bin/env python3
"""Writes docs/problems.md: every problem `code` the engine answers with, its HTTP status and
what it means, found where the code is raised (DomainError::invalid/rule/conflict/not_found,
ApiError::new/field/not_found). Run it after adding a code; `catalogues.rs` fails until then."""
import pathlib, re

ROOT = pathlib.Path(__file__).resolve().parent.parent
KINDS = {"invalid": (1, 422), "rule": (0, 422), "conflict": (0, 409), "not_found": (0, 404), "field": (1, 422)}
STATUS = {"UNPROCESSABLE_ENTITY": 422, "BAD_REQUEST": 400, "CONFLICT": 409, "NOT_FOUND": 404, "SERVICE_UNAVAILABLE": 503,
          "INTERNAL_SERVER_ERROR": 500, "METHOD_NOT_ALLOWED": 405, "PAYLOAD_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415,
          "REQUEST_TIMEOUT": 408, "GONE": 410, "URI_TOO_LONG": 414, "REQUEST_HEADER_FIELDS_TOO_LARGE": 431,
          "UNAUTHORIZED": 401, "FORBIDDEN": 403, "TOO_MANY_REQUESTS": 429}
# Codes given by a table rather than raised by a constructor: the safety net for framework
# answers (`problem::ensure_problem`) and hyper's own answers (`connection/raw_answers.rs`).
TABLED = {
    "bad_request": (400, "the request could not be read (not HTTP, or a path or query that does not decode)", "crates/server/src/connection/raw_answers.rs"),
    "uri_too_long": (414, "the request's URI is too long", "crates/server/src/connection/raw_answers.rs"),
    "headers_too_large": (431, "the request's headers are too large", "crates/server/src/connection/raw_answers.rs"),
    "request_refused": (400, "another client error the framework answered (its text as detail)", "crates/server/src/problem.rs"),
    "not_found": (404, "no such thing (the framework's own 404)", "crates/server/src/problem.rs"),
    "unknown_field": (422, "the body names a field the operation does not take (named in errors[].field)", "crates/server/src/extract.rs"),
    "missing_field": (422, "the body lacks a field the operation needs (named in errors[].field)", "crates/server/src/extract.rs"),
    "unauthenticated": (401, "no credentials, or a session that ended: sign in, or send an API token", "crates/domain/src/access.rs"),
    "forbidden": (403, "the caller's role may not do this at all (the detail says which roles may)", "crates/domain/src/access.rs"),
    "outside_scope": (403, "the caller's role may do this, but not here: another store, partner or member", "crates/domain/src/access.rs"),
    "invalid_field": (422, "a field of the body has the wrong type or value (named in errors[].field)", "crates/server/src/extract.rs"),
}


def args(text, start):
    """The top-level arguments of the call whose '(' is at text[start]."""
    depth, cur, out, i, quote = 0, "", [], start, False
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == "\\":
                cur += text[i + 1]; i += 1
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True; cur += c
        elif c in "([{":
            depth += 1
            if depth > 1: cur += c
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                out.append(cur.strip()); return out
            cur += c
        elif c == "," and depth == 1:
            out.append(cur.strip()); cur = ""
        else:
            if depth >= 1: cur += c
        i += 1
    return out


def found():
    codes = {}
    for path in sorted((ROOT / "crates").glob("*/src/**/*.rs")):
        text = path.read_text()
        text = text.split("#[cfg(test)]")[0]
        for m in re.finditer(r"\b(?:DomainError|ApiError)::(invalid|rule|conflict|not_found|field|new)\(", text):
            a = args(text, m.end() - 1)
            kind = m.group(1)
            if kind == "new":
                if len(a) < 3: continue
                status = STATUS.get(a[0].split("::")[-1], 0); code, msg = a[1], a[2]
            else:
                pos, status = KINDS[kind]
                if len(a) <= pos + 1: continue
                code, msg = a[pos], a[pos + 1]
            literals = re.findall(r'"([a-z][a-z0-9_]*)"', code) if code.startswith("if ") else [code.strip('"')]
            if not code.startswith("if ") and not re.fullmatch(r'"[a-z][a-z0-9_]*"', code): continue
            meaning = re.sub(r'^(format!\(\s*|clip\(format!\(\s*)?"', "", msg).split('"')[0]
            for lit in literals:
                codes.setdefault(lit, (status, meaning, path.relative_to(ROOT)))
    for code, (status, meaning, path) in TABLED.items():
        codes.setdefault(code, (status, meaning, pathlib.Path(path)))
    return codes


def main():
    rows = ["| code | status | meaning (as raised) | where |", "|---|---|---|---|"]
    for code, (status, meaning, path) in sorted(found().items()):
        rows.append(f"| `{code}` | {status} | {meaning.replace('|', '/')} | `{path}` |")
    head = ("# Problem codes\n\nEvery error is `application/problem+json` with a stable `code`; this is every code, its\n"
            "HTTP status and what it means (the message as raised; `{…}` parts are filled in), with the\n"
            "file that raises it. Generated by `scripts/problem-catalogue.py`; the test\n"
            "`crates/server/tests/catalogues.rs` fails when a code is raised that is not listed here.\n\n")
    (ROOT / "docs" / "problems.md").write_text(head + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
