//! The GuardDuty and Security Hub fakes as a process, for `make demo` (managed GuardDuty and
//! Security Hub without AWS). Prints `GUARDDUTY_URL SECURITYHUB_URL` on its first line and
//! serves until killed.
//!
//! `fake_aws --admin ID --org-accounts ID,ID,... [--detector REGION]... [--hub REGION]...`:
//! the administrator account, the organisation's accounts CreateMembers accepts, and the
//! Regions that start with a GuardDuty detector or Security Hub enabled.

use std::io::Write;

use vigil_e2e::fakes::guardduty::GuardDutyFake;
use vigil_e2e::fakes::securityhub::SecurityHubFake;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut admin = "111111111111".to_owned();
    let mut accounts = Vec::new();
    let mut detectors = Vec::new();
    let mut hubs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--admin" => admin = v,
            "--org-accounts" => {
                accounts.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned))
            }
            "--detector" => detectors.push(v),
            "--hub" => hubs.push(v),
            other => {
                eprintln!("fake_aws: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let gd = GuardDutyFake::start(&admin).await;
    let sh = SecurityHubFake::start().await;
    gd.with(|w| {
        for a in &accounts {
            w.org_accounts.insert(a.clone(), format!("{a}@example.com"));
        }
    });
    sh.admin(|s| {
        s.admin = admin.clone();
        s.org_accounts.extend(accounts.iter().cloned());
        for r in &hubs {
            let h = s.regions.entry(r.clone()).or_default();
            h.enabled = true;
            h.configuration_type = "LOCAL".into();
            h.auto_enable_standards = "DEFAULT".into();
        }
    });
    for r in &detectors {
        if let Err(e) = gd.client(r).create_detector().enable(true).send().await {
            eprintln!("fake_aws: {e:?}");
            std::process::exit(1);
        }
    }
    println!("{} {}", gd.endpoint(), sh.endpoint());
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
}
