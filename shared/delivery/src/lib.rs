//! Vigil's delivery of incident versions to destinations, without the AWS SDK: the clients,
//! the dispatcher that orders, retries and records deliveries, credentials and TLS. Formats
//! come from `vigil-wire`; delivery state and secrets are the domain's ports.
//!
//! # Layout (dependencies point down this list only)
//! - [`dispatch`]: [`Dispatcher::deliver`]: incident versions in, per-sink results and the
//!   first undelivered position out.
//! - [`sink`]: the [`sink::Sink`] enum over the clients.
//! - [`clients`]: [`clients::hec`], [`clients::syslog`], [`clients::webhook`],
//!   [`clients::file`].
//! - [`message`]: what every client is handed and returns ([`Delivery`]), and failure
//!   conversions.
//! - [`tls`]: rustls settings (private CA, mutual TLS).
//! - [`secrets`]: credentials from a secret store (through the domain's port), env, file or
//!   inline; cached, refreshed on authentication failure, never printed.

pub mod clients;
pub mod dispatch;
pub mod message;
pub mod secrets;
pub mod sink;
pub mod tls;

pub use dispatch::{BatchReport, Dispatcher, SinkStats};
pub use message::Delivery;
pub use secrets::{Secret, Secrets};
