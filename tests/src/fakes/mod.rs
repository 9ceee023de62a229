//! Protocol-level fakes of AWS services that have no local implementation, driven by the real
//! SDK clients through an endpoint override.

pub mod securityhub;
