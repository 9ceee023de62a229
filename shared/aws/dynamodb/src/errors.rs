//! DynamoDB errors as the domain's [`StoreError`]: lost races are conflicts, throttling and
//! server faults are retryable, everything else is a rejection. The SDK error is kept as the
//! source.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_smithy_runtime_api::http::Response;
use vigil_aws::{AwsError, AwsErrorKind};
use vigil_domain::StoreError;

/// Error codes of a conditional write that lost to another writer.
pub const CONFLICT_CODES: &[&str] = &[
    "ConditionalCheckFailedException",
    "TransactionConflictException",
];

/// Maps an SDK error of operation `op` to a store error.
pub fn classify<E>(op: &'static str, e: SdkError<E, Response>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    store_error(vigil_aws::classify(op, e, CONFLICT_CODES))
}

/// An [`AwsError`] as a store error.
pub fn store_error(e: AwsError) -> StoreError {
    match e.kind {
        AwsErrorKind::Conflict => StoreError::Conflict {
            what: e.to_string(),
        },
        AwsErrorKind::Throttled | AwsErrorKind::Unavailable => StoreError::Unavailable {
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
        // A request DynamoDB validates and refuses (an item or key over its limits, a bad
        // value) can be skipped alone; anything else (no table, access denied) makes the store
        // unusable for every request.
        AwsErrorKind::Rejected if VALIDATION_CODES.contains(&e.code.as_deref().unwrap_or("")) => {
            StoreError::Rejected {
                message: e.to_string(),
                source: Some(Box::new(e)),
            }
        }
        AwsErrorKind::Rejected => StoreError::Unusable {
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}

/// Error codes of a request DynamoDB refuses on its own merits.
pub const VALIDATION_CODES: &[&str] = &[
    "ValidationException",
    "ItemCollectionSizeLimitExceededException",
];

/// A request that could not be built.
pub fn rejected(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        message: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    }
}

/// What a cancelled transaction means, from its cancellation reasons (one per item, in
/// order; `None` for the items that were fine):
/// - any `ValidationError`: the request is wrong (an item too large, a bad attribute): rejected;
/// - any throttling reason: retryable;
/// - any failed condition or conflicting transaction: a lost race, re-plan;
/// - otherwise: retryable (the service cancelled it for its own reasons).
pub fn cancellation(reasons: &[CancellationReason]) -> CancellationKind {
    let code = |c: &str| reasons.iter().any(|r| r.code() == Some(c));
    if code("ValidationError") {
        CancellationKind::Rejected
    } else if code("ThrottlingError") || code("ProvisionedThroughputExceeded") {
        CancellationKind::Throttled
    } else if code("ConditionalCheckFailed") || code("TransactionConflict") {
        CancellationKind::Conflict
    } else {
        CancellationKind::Other
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancellationKind {
    Rejected,
    Throttled,
    Conflict,
    Other,
}

/// Maps a `TransactWriteItems` failure to a store error, reading the cancellation reasons.
pub fn transaction_error(e: SdkError<TransactWriteItemsError, Response>) -> StoreError {
    let reasons = match &e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(tc) => {
                Some(tc.cancellation_reasons().to_vec())
            }
            _ => None,
        },
        _ => None,
    };
    let Some(reasons) = reasons else {
        return classify("TransactWriteItems", e);
    };
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    let details: Vec<&str> = reasons.iter().filter_map(|r| r.message()).collect();
    match cancellation(&reasons) {
        CancellationKind::Rejected => StoreError::Rejected {
            message: format!("transaction rejected: {codes:?} {details:?}"),
            source: Some(Box::new(e)),
        },
        CancellationKind::Throttled => StoreError::Unavailable {
            message: format!("transaction cancelled: throttled {codes:?}"),
            source: Some(Box::new(e)),
        },
        CancellationKind::Conflict => StoreError::Conflict {
            what: format!("transaction cancelled: {codes:?}"),
        },
        CancellationKind::Other => StoreError::Unavailable {
            message: format!("transaction cancelled: {codes:?} {details:?}"),
            source: Some(Box::new(e)),
        },
    }
}
