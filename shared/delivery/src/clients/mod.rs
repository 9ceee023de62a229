//! The clients, one per kind of destination. Each takes a batch of [`crate::message::Delivery`]s
//! and returns one result per delivery; none knows the others or the dispatcher.

pub mod chat;
pub mod file;
pub mod hec;
pub mod pagerduty;
pub mod securityhub;
pub mod sns;
pub mod syslog;
pub mod webhook;
