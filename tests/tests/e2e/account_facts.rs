//! Account facts from AWS Organizations (moto's server, the real SDK client): an organisation
//! with nested OUs and tagged accounts becomes the directory the enrichment reads; a tag says
//! the environment and owner, an OU named `Prod` makes an untagged account production, and the
//! runbook's own entries still win.

use aws_sdk_organizations::types::Tag;
use vigil_domain::enrich::{account_context, EnvironmentSource};
use vigil_domain::runbook::Environment;
use vigil_domain::testing::Asff;
use vigil_domain::Runbook;

async fn account(
    c: &aws_sdk_organizations::Client,
    name: &str,
    parent: &str,
    root: &str,
    tags: &[(&str, &str)],
) -> String {
    let created = c
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap();
    let id = created
        .create_account_status()
        .and_then(|s| s.account_id())
        .unwrap()
        .to_owned();
    c.move_account()
        .account_id(&id)
        .source_parent_id(root)
        .destination_parent_id(parent)
        .send()
        .await
        .unwrap();
    if !tags.is_empty() {
        let mut req = c.tag_resource().resource_id(&id);
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build().unwrap());
        }
        req.send().await.unwrap();
    }
    id
}

#[tokio::test]
async fn organizations_tags_and_ous_become_account_facts() {
    let Some(ep) = vigil_e2e::moto_endpoint() else {
        return;
    };
    let c = vigil_e2e::organizations_client(&ep);
    // moto keeps one organisation per server: create it, or use the one there.
    let _ = c.create_organization().send().await;
    let root = c.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let tag = format!("{:06x}", rand::random::<u32>() & 0xffffff);
    let ou = |name: String, parent: String| {
        let c = c.clone();
        async move {
            c.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap()
                .organizational_unit()
                .unwrap()
                .id()
                .unwrap()
                .to_owned()
        }
    };
    let workloads = ou(format!("Workloads-{tag}"), root.clone()).await;
    let prod = ou("Prod".into(), workloads.clone()).await;
    let sandbox = ou(format!("Sandbox-{tag}"), root.clone()).await;
    let tagged = account(
        &c,
        &format!("payments-{tag}"),
        &sandbox,
        &root,
        &[
            ("Environment", "production"),
            ("Owner", "payments@example.com"),
        ],
    )
    .await;
    let untagged = account(&c, &format!("web-{tag}"), &prod, &root, &[]).await;
    let overridden = account(
        &c,
        &format!("data-{tag}"),
        &prod,
        &root,
        &[("Environment", "dev")],
    )
    .await;

    let dir = vigil_aws_organizations::read_directory(&c).await.unwrap();
    let t = &dir[&tagged];
    assert_eq!(t.name.as_deref(), Some(format!("payments-{tag}").as_str()));
    assert_eq!(
        t.ou_path.as_deref(),
        Some(format!("Root/Sandbox-{tag}").as_str())
    );
    assert!(t
        .tags
        .contains(&("Owner".into(), "payments@example.com".into())));
    assert_eq!(
        dir[&untagged].ou_path.as_deref(),
        Some(format!("Root/Workloads-{tag}/Prod").as_str())
    );

    let mut rb = Runbook::from_yaml(
        &format!("defaults: {{ environment: dev }}\naccount_facts: {{ organizations: true }}\naccounts:\n  \"{overridden}\": {{ environment: test }}\n"),
        "t",
    )
    .unwrap();
    rb.directory = std::sync::Arc::new(dir);
    let ctx = |id: &str| {
        let v = Asff::guardduty("f").account(id).json();
        let text = vigil_domain::testing::text(&v);
        account_context(&rb, &vigil_domain::asff::parse_finding(text).unwrap())
    };
    let c1 = ctx(&tagged);
    assert_eq!(
        (c1.environment, c1.environment_source),
        (Environment::Production, EnvironmentSource::AccountTag)
    );
    assert_eq!(c1.owner.as_deref(), Some("payments@example.com"));
    assert_eq!(c1.name.as_deref(), Some(format!("payments-{tag}").as_str()));
    let c2 = ctx(&untagged);
    assert_eq!(
        (c2.environment, c2.environment_source),
        (
            Environment::Production,
            EnvironmentSource::OrganizationalUnit
        )
    );
    assert!(
        c2.environment_why.contains("Prod"),
        "{}",
        c2.environment_why
    );
    // The runbook's entry wins over the account's tag.
    let c3 = ctx(&overridden);
    assert_eq!(
        (c3.environment, c3.environment_source),
        (Environment::Test, EnvironmentSource::Runbook)
    );
}
