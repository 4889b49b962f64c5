//! Tongjia's domain: the pure rules of one catalog, one price book and one stock ledger.
//!
//! This crate knows no database, no HTTP and no clock: every function that needs "now"
//! takes it as an argument, and every decision is a value (entries and events) that the
//! storage layer writes. Most of the project's tests live here.

pub mod access;
pub mod catalog;
pub mod codes;
pub mod customer;
pub mod error;
pub mod events;
pub mod ledger;
pub mod location;
pub mod money;
pub mod network;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod sourcing;

pub use error::{DomainError, ErrorKind};
pub use money::Fen;
