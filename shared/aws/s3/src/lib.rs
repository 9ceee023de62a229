//! Vigil's S3 adapter: where a deployed runbook lives when it does not fit an environment
//! variable (a real one, with 200 accounts and 50 rules, does not fit Lambda's 4 KB).
//!
//! Place in the crate graph: an adapter of the domain's [`RunbookSource`] port, used by the
//! ingest function (which polls it, `ingest::live`) and by the CLI (`vigil runbook upload`).
//! It depends on the domain and `vigil-aws` only.
//!
//! The bucket is versioned and encrypted with the stack's KMS key (see `infra/template.yaml`);
//! reads use `HeadObject` (the entity tag, once a minute) and `GetObject` only when it changed.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures::future::BoxFuture;
use vigil_domain::ports::{RunbookObject, RunbookSource, RunbookSourceError};

/// Largest runbook object read (a runbook is a few hundred KB at most).
pub const MAX_RUNBOOK_BYTES: usize = 4 * 1024 * 1024;

/// An S3 client from the standard configuration; `AWS_ENDPOINT_URL_S3` points it elsewhere
/// (moto in tests) and `VIGIL_S3_FORCE_PATH_STYLE=1` selects path-style addressing for such
/// endpoints.
pub async fn client() -> aws_sdk_s3::Client {
    let conf = vigil_aws::sdk_config().await;
    let path_style = std::env::var("VIGIL_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "1");
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// `s3://bucket/key` -> (bucket, key).
pub fn parse_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.trim().strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// The runbook object `s3://bucket/key`.
#[derive(Debug, Clone)]
pub struct S3RunbookSource {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
}

impl S3RunbookSource {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    fn error(&self, e: vigil_aws::AwsError) -> RunbookSourceError {
        RunbookSourceError {
            location: self.location(),
            message: e.to_string(),
            retryable: e.is_retryable(),
            not_found: e.code.as_deref() == Some("NoSuchKey"),
            source: Some(Box::new(e)),
        }
    }

    fn plain(&self, message: String) -> RunbookSourceError {
        RunbookSourceError {
            location: self.location(),
            message,
            retryable: false,
            not_found: false,
            source: None,
        }
    }
}

impl RunbookSource for S3RunbookSource {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn etag(&self) -> BoxFuture<'_, Result<String, RunbookSourceError>> {
        Box::pin(async move {
            let head = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send()
                .await;
            match head {
                Ok(out) => out
                    .e_tag
                    .ok_or_else(|| self.plain("HeadObject returned no ETag".into())),
                // A HEAD response has no body to say whether the key or the bucket is missing;
                // GetObject's error code does (NoSuchKey: nothing uploaded yet; NoSuchBucket: a
                // deployment error).
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    match self.get().await {
                        Ok(o) => Ok(o.etag),
                        Err(err) => Err(err),
                    }
                }
                Err(e) => Err(self.error(vigil_aws::classify("HeadObject", e, &[]))),
            }
        })
    }

    fn get(&self) -> BoxFuture<'_, Result<RunbookObject, RunbookSourceError>> {
        Box::pin(async move {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send()
                .await
                .map_err(|e| self.error(vigil_aws::classify("GetObject", e, &[])))?;
            if out
                .content_length
                .is_some_and(|n| n > MAX_RUNBOOK_BYTES as i64)
            {
                return Err(self.plain(format!(
                    "the object is larger than {MAX_RUNBOOK_BYTES} bytes"
                )));
            }
            let etag = out.e_tag.clone().unwrap_or_default();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| RunbookSourceError {
                    location: self.location(),
                    message: format!("reading the object failed: {e}"),
                    retryable: true,
                    not_found: false,
                    source: Some(Box::new(e)),
                })?
                .into_bytes();
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| self.plain("the object is not UTF-8 text".into()))?;
            Ok(RunbookObject { etag, text })
        })
    }
}

/// Uploads a runbook's text as the object's new version, encrypted with `kms_key` (the stack's
/// key) when given; returns the new entity tag. The caller validates it first.
pub async fn upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    text: &str,
    kms_key: Option<&str>,
) -> Result<String, vigil_aws::AwsError> {
    let mut req = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/yaml")
        .body(ByteStream::from(text.as_bytes().to_vec()));
    if let Some(k) = kms_key {
        req = req
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k);
    }
    let out = req
        .send()
        .await
        .map_err(|e| vigil_aws::classify("PutObject", e, &[]))?;
    Ok(out.e_tag.unwrap_or_default())
}

/// Where managed GuardDuty's inline lists go: objects in Vigil's lists bucket, encrypted with
/// SSE-S3 (GuardDuty reads them through its service-linked role, which cannot use a customer
/// KMS key without a key grant). Keys are content-addressed, so a put is idempotent.
#[derive(Debug, Clone)]
pub struct S3ListStore {
    client: aws_sdk_s3::Client,
}

impl S3ListStore {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

impl vigil_domain::manage::ListStore for S3ListStore {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), vigil_domain::manage::ManageError>> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("text/plain")
                .server_side_encryption(ServerSideEncryption::Aes256)
                .body(ByteStream::from(body.as_bytes().to_vec()))
                .send()
                .await
                .map_err(|e| {
                    let e = vigil_aws::classify("PutObject", e, &[]);
                    let code = e.code.clone();
                    vigil_domain::manage::ManageError::classified(
                        e.op,
                        code.as_deref(),
                        e.to_string(),
                        e.is_retryable(),
                        Box::new(e),
                    )
                })?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_bucket_and_a_key() {
        assert_eq!(
            parse_uri("s3://vigil-runbook/prod/runbook.yaml"),
            Some(("vigil-runbook".into(), "prod/runbook.yaml".into()))
        );
        assert_eq!(parse_uri("s3://bucket"), None);
        assert_eq!(parse_uri("https://x/y"), None);
        assert_eq!(parse_uri("s3:///key"), None);
    }
}
