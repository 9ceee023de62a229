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

/// Every account of the organisation, whatever its status, with its OU path
/// (`Root/Workloads/Prod`), name and e-mail address.
pub async fn list_accounts(
    c: &aws_sdk_organizations::Client,
) -> Result<Vec<vigil_domain::manage::Account>, vigil_aws::AwsError> {
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
    let mut accounts = Vec::new();
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
                if let Some(id) = a.id() {
                    accounts.push(vigil_domain::manage::Account {
                        id: id.to_owned(),
                        name: a.name().filter(|n| !n.is_empty()).map(str::to_owned),
                        email: a.email().filter(|e| !e.is_empty()).map(str::to_owned),
                        ou_path: Some(path.clone()),
                        // `State` replaces the retired `Status` (ACTIVE, SUSPENDED,
                        // PENDING_CLOSURE, CLOSED, ...); an account that gives neither is
                        // taken as not enrollable.
                        status: a
                            .state()
                            .map(|s| s.as_str())
                            .or(a.status().map(|s| s.as_str()))
                            .unwrap_or("UNKNOWN")
                            .to_ascii_uppercase(),
                    });
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(accounts)
}

/// Reads every ACTIVE account of the organisation: name, OU path (`Root/Workloads/Prod`), tags.
pub async fn read_directory(
    c: &aws_sdk_organizations::Client,
) -> Result<AccountDirectory, vigil_aws::AwsError> {
    let accounts: Vec<(String, String, String)> = list_accounts(c)
        .await?
        .into_iter()
        .filter(|a| a.status == "ACTIVE")
        .map(|a| {
            (
                a.id,
                a.name.unwrap_or_default(),
                a.ou_path.unwrap_or_default(),
            )
        })
        .collect();
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

impl vigil_domain::manage::AccountSource for OrganizationsDirectory {
    fn accounts(
        &self,
    ) -> futures::future::BoxFuture<
        '_,
        Result<Vec<vigil_domain::manage::Account>, vigil_domain::manage::ManageError>,
    > {
        Box::pin(async move {
            list_accounts(&self.client).await.map_err(|e| {
                let code = e.code.clone();
                vigil_domain::manage::ManageError::classified(
                    e.op,
                    code.as_deref(),
                    e.to_string(),
                    e.is_retryable(),
                    Box::new(e),
                )
            })
        })
    }
}
