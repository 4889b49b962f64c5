//! Reading an import file: the header checked against the row type's own fields (an
//! unknown or misspelt column is refused by name), then every record with the line it
//! starts on as the CSV reader counts it (a quoted field may span lines), every bad record
//! reported.

use serde::de::{self, DeserializeOwned, Visitor};
use std::collections::HashSet;
use std::path::Path;
use tongjia_domain::DomainError;

/// A row type of an import file. Its columns are its serde fields; `OPTIONAL` names those
/// a file may leave out (every other column is required).
pub trait Columns: DeserializeOwned {
    const OPTIONAL: &'static [&'static str];
}

/// Something wrong with one line of a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The line the record starts on (1 is the header); 0 for the file as a whole.
    pub line: u64,
    pub message: String,
}

impl Problem {
    pub fn at(line: u64, message: impl Into<String>) -> Self {
        Self { line, message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

/// Rows that read and checked well, each with the line its record starts on.
pub type Lined<T> = Vec<(u64, T)>;

/// The rows of a file that read and checked well, each with its line, and the problems of
/// the others. A file that cannot be read as a whole (missing, empty, a bad header) is an
/// `Err` at once.
pub fn read<R: Columns, T>(path: &Path, parse: impl Fn(&R) -> Result<T, DomainError>) -> Result<(Lined<T>, Vec<Problem>), String> {
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let headers = reader.headers().map_err(|e| format!("{}: the header line cannot be read: {e}", path.display()))?.clone();
    check_header::<R>(&headers).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut rows, mut problems) = (vec![], vec![]);
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                problems.push(unreadable(&e, &headers));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        match record.deserialize::<R>(Some(&headers)) {
            Ok(raw) => match parse(&raw) {
                Ok(v) => rows.push((line, v)),
                Err(e) => problems.push(Problem::at(line, format!("{}: {}", e.field.as_deref().unwrap_or(e.code), e.message))),
            },
            Err(e) => problems.push(Problem::at(line, undeserializable(&e, &headers, &record))),
        }
    }
    if rows.is_empty() && problems.is_empty() {
        return Err(format!("{}: no rows after the header line; nothing to import", path.display()));
    }
    Ok((rows, problems))
}

/// Refuses an empty file, an unknown or repeated column and a missing required one.
fn check_header<R: Columns>(headers: &csv::StringRecord) -> Result<(), String> {
    let known = fields::<R>();
    if headers.iter().all(str::is_empty) {
        return Err(format!("the file is empty; the first line must name the columns: {}", known.join(",")));
    }
    let mut seen = HashSet::new();
    let mut problems = vec![];
    for name in headers {
        if !seen.insert(name) {
            problems.push(format!("column '{name}' appears twice"));
        } else if !known.contains(&name) {
            problems.push(match closest(name, known) {
                Some(like) => format!("unknown column '{name}' (did you mean '{like}'?)"),
                None => format!("unknown column '{name}'"),
            });
        }
    }
    for name in known.iter().filter(|c| !R::OPTIONAL.contains(c) && !seen.contains(*c)) {
        problems.push(format!("missing column '{name}'"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!("{}; the columns are: {} (optional: {})", problems.join("; "), known.join(","), R::OPTIONAL.join(",")))
}

/// The known column most like a misspelt one.
fn closest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    let name = name.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&name, k), *k))
        .filter(|(likeness, _)| *likeness >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// A record the reader could not split into fields.
fn unreadable(e: &csv::Error, headers: &csv::StringRecord) -> Problem {
    let line = e.position().map_or(0, csv::Position::line);
    match e.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => {
            Problem::at(line, format!("{len} fields, but the header has {} columns (a comma in a value needs quotes)", headers.len()))
        }
        csv::ErrorKind::Utf8 { .. } => Problem::at(line, "not UTF-8 text (save the file as CSV UTF-8)"),
        _ => Problem::at(line, e.to_string()),
    }
}

/// A record whose field does not hold its column's type, named by column and value.
fn undeserializable(e: &csv::Error, headers: &csv::StringRecord, record: &csv::StringRecord) -> String {
    let csv::ErrorKind::Deserialize { err, .. } = e.kind() else { return e.to_string() };
    match err.field().map(|i| i as usize) {
        Some(i) => {
            let column = headers.get(i).unwrap_or("?");
            format!("{column}: '{}' {}", record.get(i).unwrap_or(""), describe(err.kind()))
        }
        None => err.kind().to_string(),
    }
}

fn describe(kind: &csv::DeserializeErrorKind) -> String {
    match kind {
        csv::DeserializeErrorKind::ParseInt(_) => "is not a whole number".into(),
        csv::DeserializeErrorKind::ParseFloat(_) => "is not a number".into(),
        csv::DeserializeErrorKind::ParseBool(_) => "is not true or false".into(),
        other => format!("cannot be read: {other}"),
    }
}

/// The field names of a struct `R` deserializes into, read from serde's derive.
pub fn fields<R: DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = FieldProbe(&[]);
    let _ = R::deserialize(&mut probe);
    probe.0
}

/// A deserializer that only records the fields a struct asks for.
struct FieldProbe(&'static [&'static str]);

impl<'de> de::Deserializer<'de> for &mut FieldProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs are probed"))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("fields read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
        newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}
