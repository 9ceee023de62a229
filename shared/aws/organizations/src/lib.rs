//! Vigil's AWS Organizations adapter: the organisation's accounts with their names, tags and
//! organizational-unit paths, read from the delegated administrator (or management) account.
//!
//! Place in the crate graph: an adapter that fills the domain's [`AccountDirectory`] (account
//! facts the enrichment reads after the runbook's own entries). Used by the ingest function
//! (refreshed in the background with a TTL, `ingest::facts`). Depends on the domain and
//! `vigil-aws` only.
//!
//! Calls: `ListRoots`, then breadth-first `ListOrganizationalUnitsForParent` and
//! `ListAccountsForParent` (so every account's OU path comes with the walk, with no
//! `ListParents` per account), and `ListTagsForResource` per account, a few at a time (the
//! Organizations API throttles early; the SDK retries throttled calls).

use std::collections::BTreeMap;

use futures::StreamExt;
use vigil_domain::runbook::{AccountDirectory, OrgAccount};

/// An Organizations client from the standard configuration (`AWS_ENDPOINT_URL_ORGANIZATIONS`
/// points it at moto in tests).
pub async fn client() -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(&vigil_aws::sdk_config().await)
}

/// Tag requests in flight at once.
const TAG_CONCURRENCY: usize = 4;

/// An account id and its tags.
type AccountTags = (String, Vec<(String, String)>);

/// The tags of one account.
async fn tags_of(
    c: aws_sdk_organizations::Client,
    id: String,
) -> Result<AccountTags, vigil_aws::AwsError> {
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .list_tags_for_resource()
            .resource_id(&id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| vigil_aws::classify("ListTagsForResource", e, &[]))?;
        for t in out.tags() {
            tags.push((t.key().to_owned(), t.value().to_owned()));
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok((id, tags))
}

/// Reads every ACTIVE account of the organisation: name, OU path (`Root/Workloads/Prod`), tags.
pub async fn read_directory(
    c: &aws_sdk_organizations::Client,
) -> Result<AccountDirectory, vigil_aws::AwsError> {
    let roots = c
        .list_roots()
        .send()
        .await
        .map_err(|e| vigil_aws::classify("ListRoots", e, &[]))?;
    let mut queue: Vec<(String, String)> = roots
        .roots()
        .iter()
        .filter_map(|r| r.id().map(|id| (id.to_owned(), "Root".to_owned())))
        .collect();
    let mut accounts: Vec<(String, String, String)> = Vec::new(); // id, name, path
    while let Some((parent, path)) = queue.pop() {
        let mut token: Option<String> = None;
        loop {
            let out = c
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| vigil_aws::classify("ListOrganizationalUnitsForParent", e, &[]))?;
            for ou in out.organizational_units() {
                if let (Some(id), Some(name)) = (ou.id(), ou.name()) {
                    queue.push((id.to_owned(), format!("{path}/{name}")));
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        loop {
            let out = c
                .list_accounts_for_parent()
                .parent_id(&parent)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| vigil_aws::classify("ListAccountsForParent", e, &[]))?;
            for a in out.accounts() {
                let active = a
                    .status()
                    .is_none_or(|s| s.as_str().eq_ignore_ascii_case("ACTIVE"));
                if let (Some(id), true) = (a.id(), active) {
                    accounts.push((
                        id.to_owned(),
                        a.name().unwrap_or_default().to_owned(),
                        path.clone(),
                    ));
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    let ids: Vec<String> = accounts.iter().map(|(id, _, _)| id.clone()).collect();
    let tagged: Vec<Result<AccountTags, vigil_aws::AwsError>> =
        futures::stream::iter(ids.into_iter().map(|id| tags_of(c.clone(), id)))
            .buffer_unordered(TAG_CONCURRENCY)
            .collect()
            .await;
    let mut tags: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for t in tagged {
        let (id, t) = t?;
        tags.insert(id, t);
    }
    Ok(accounts
        .into_iter()
        .map(|(id, name, ou_path)| {
            let t = tags.remove(&id).unwrap_or_default();
            (
                id,
                OrgAccount {
                    name: (!name.is_empty()).then_some(name),
                    ou_path: Some(ou_path),
                    tags: t,
                },
            )
        })
        .collect())
}

/// The organisation as the domain's [`DirectorySource`].
#[derive(Debug, Clone)]
pub struct OrganizationsDirectory {
    client: aws_sdk_organizations::Client,
}

impl OrganizationsDirectory {
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        Self { client }
    }
}

impl vigil_domain::ports::DirectorySource for OrganizationsDirectory {
    fn read(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<AccountDirectory, vigil_domain::ports::DirectoryError>>
    {
        Box::pin(async move {
            read_directory(&self.client)
                .await
                .map_err(|e| vigil_domain::ports::DirectoryError {
                    message: e.to_string(),
                    retryable: e.is_retryable(),
                    source: Some(Box::new(e)),
                })
        })
    }
}
