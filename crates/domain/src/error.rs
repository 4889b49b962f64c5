//! One error type for every domain rule, each with a stable machine code.

use std::fmt;

/// How a domain error should be understood by a caller (the API maps it to a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A value is malformed (bad barcode, negative quantity, unknown field...).
    Validation,
    /// A referenced thing does not exist.
    NotFound,
    /// The request conflicts with the current state (illegal transition, duplicate code).
    Conflict,
    /// Well formed, but a business rule refuses it (insufficient stock, past price).
    Rule,
    /// No credentials, or credentials that are not valid.
    Unauthenticated,
    /// A known principal without the right.
    Forbidden,
}

/// A refused command or value: a stable `code`, a human `message`, and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError {
    pub kind: ErrorKind,
    /// Stable, snake_case, never changes once published (`insufficient_stock`).
    pub code: &'static str,
    pub message: String,
    /// The input field the error is about, when there is one (`gtin`, `quantity`).
    pub field: Option<String>,
}

impl DomainError {
    /// A malformed value in `field`.
    pub fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Validation, code, message: message.into(), field: Some(field.into()) }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::NotFound, code, message: message.into(), field: None }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Conflict, code, message: message.into(), field: None }
    }
    pub fn rule(code: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Rule, code, message: message.into(), field: None }
    }
    /// The same error, naming the input field it is about.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({}): {}", self.code, field, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for DomainError {}

/// Shorthand for domain results.
pub type DomainResult<T> = Result<T, DomainError>;
