//! A form a page posts (`application/x-www-form-urlencoded`), as a change: its fields, its
//! idempotency key (the `idempotency_key` field the page rendered, so a double click or a
//! resend changes nothing twice), fingerprinted and audited like an API body. Fields a page
//! does not know are refused, so a forged post cannot slip a price or anything else in.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use crate::extract::{Mutation, read_body};
use crate::problem::ApiError;

/// The field holding the key a page rendered into its form.
pub(crate) const KEY_FIELD: &str = "idempotency_key";

/// The refusal of a field a form does not have: a price is a forgery
/// (`client_price_refused`), anything else `unknown_field`.
pub(crate) fn unknown_field(name: &str) -> ApiError {
    if name.contains("price") {
        ApiError::field(name, "client_price_refused", "prices come from the price book, never from the caller")
    } else {
        ApiError::field(name, "unknown_field", format!("this form has no field {name}"))
    }
}

/// A posted form.
pub(crate) struct PageForm {
    /// Fields in the order sent (a name may repeat: one `line` per cart line).
    pub(crate) fields: Vec<(String, String)>,
    /// The change as a whole; [`PageForm::step`] gives each of its writes its own scope.
    pub(crate) mutation: Mutation<()>,
}

impl PageForm {
    /// The value of `name` (the first, if repeated), trimmed; None when absent or blank.
    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.trim())
    }

    /// Refuses any field not in `known`: a `unit_price` or `price` field is a forgery
    /// (`client_price_refused`), anything else unknown is `unknown_field`.
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        self.only_repeating(known, &[])
    }

    /// [`PageForm::only`], where the fields `repeating` may come more than once (a cart's
    /// `line`s) and every other field at most once: a field given twice is refused
    /// (`field_repeated`), not read one way or the other.
    pub(crate) fn only_repeating(&self, known: &[&str], repeating: &[&str]) -> Result<(), ApiError> {
        if let Some((k, _)) =
            self.fields.iter().find(|(k, _)| k != KEY_FIELD && !known.contains(&k.as_str()) && !repeating.contains(&k.as_str()))
        {
            return Err(unknown_field(k));
        }
        self.no_repeats(repeating)
    }

    /// Refuses a field given twice, but for those in `repeating`.
    pub(crate) fn no_repeats(&self, repeating: &[&str]) -> Result<(), ApiError> {
        for (i, (k, _)) in self.fields.iter().enumerate() {
            if !repeating.contains(&k.as_str()) && self.fields[..i].iter().any(|(earlier, _)| earlier == k) {
                return Err(ApiError::field(k, "field_repeated", format!("the form gives {k} more than once")));
            }
        }
        Ok(())
    }

    /// The mutation for one write of this change (`step` names it: `order`, `payment`).
    pub(crate) fn step<T>(&self, step: &str, body: T) -> Mutation<T> {
        let m = &self.mutation;
        Mutation {
            body,
            key: m.key.clone(),
            scope: format!("{} {step}", m.scope),
            request_hash: format!("{}:{step}", m.request_hash),
            audit: m.audit.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the form as a form"));
        }
        let bytes = read_body(&parts, body).await?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_form", "the form could not be read"))?;
        if fields.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_text", "text must not contain NUL characters"));
        }
        let key = match fields.iter().find(|(k, _)| k == KEY_FIELD) {
            Some((_, v))
                if v.is_empty() || v.len() > crate::extract::IDEMPOTENCY_KEY_LEN_MAX || !v.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                return Err(ApiError::field(KEY_FIELD, "invalid_idempotency_key", "the form's key must be visible ASCII"));
            }
            Some((_, v)) => Some(v.clone()),
            None => crate::extract::idempotency_key(&parts)?,
        };
        // The form as JSON, for the fingerprint and the audit trail: each name with its value,
        // or its values when repeated.
        let mut value = serde_json::Map::new();
        for (k, v) in fields.iter().filter(|(k, _)| k != KEY_FIELD) {
            match value.get_mut(k) {
                None => {
                    value.insert(k.clone(), serde_json::Value::String(v.clone()));
                }
                Some(serde_json::Value::Array(list)) => list.push(serde_json::Value::String(v.clone())),
                Some(first) => *first = serde_json::Value::Array(vec![first.take(), serde_json::Value::String(v.clone())]),
            }
        }
        let mutation = Mutation::new(&parts, (), &serde_json::Value::Object(value), key, "");
        Ok(PageForm { fields, mutation })
    }
}
