//! `tongjia admin`: accounts and tokens made on the database's own machine, before anyone
//! can sign in (the first administrator), and the demo's logins.

use std::io::BufRead;
use tongjia_domain::access::{Binding, Role, TokenScope, check_password};
use tongjia_domain::codes::{LocationCode, PartnerCode};
use tongjia_storage::Db;

/// The password every demo login has.
pub const DEMO_PASSWORD: &str = "tongjia-demo";

/// The demo's logins: one per role, bound to stores and a partner of the demo network.
const DEMO_LOGINS: [(&str, Role, &[&str], Option<&str>); 5] = [
    ("admin", Role::HqAdmin, &[], None),
    ("pricing", Role::Pricing, &[], None),
    ("merch", Role::Merchandiser, &[], None),
    ("clerk", Role::StoreStaff, &["T-330782106", "D-310115"], None),
    ("partner", Role::Partner, &[], Some("P-33")),
];

/// A binding from CLI arguments.
pub fn binding(role: &str, stores: &[String], partner: Option<&str>) -> Result<Binding, String> {
    let role = Role::parse(role).map_err(|e| e.to_string())?;
    let stores = stores.iter().map(|s| LocationCode::parse(s)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let partner = partner.map(PartnerCode::parse).transpose().map_err(|e| e.to_string())?;
    Binding::new(role, stores, partner).map_err(|e| e.to_string())
}

/// Makes an account; the password is read from `TONGJIA_ADMIN_PASSWORD` or the first line
/// of standard input (never from the command line, where `ps` would show it).
pub async fn create(db: &Db, username: &str, binding: Binding) -> Result<(), String> {
    let password = match std::env::var("TONGJIA_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("password for {username} (one line on standard input):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    check_password(&password).map_err(|e| e.to_string())?;
    let role = binding.role();
    let hash = tongjia_server::auth::secrets::hash_password(&password).await;
    let render =
        |a: &tongjia_storage::AccountRecord| serde_json::json!({ "username": a.username, "role": a.binding.role().as_str() }).to_string();
    let mut audit = cli_audit("tongjia admin create");
    audit.request = serde_json::json!({ "username": username, "role": role.as_str(), "password": "***" }).to_string();
    let idem = tongjia_storage::Idem {
        scope: "system:cli tongjia admin create".into(),
        key: None,
        audit: Some(audit),
        request_hash: String::new(),
        status: 201,
        render: &render,
        rendered: std::sync::OnceLock::new(),
    };
    db.create_account(username, binding, hash, Some(&idem)).await.map_err(|e| e.to_string())?;
    println!("account {username} ({role}) created");
    Ok(())
}

/// Makes a token for an existing account and prints it (the only time it is shown).
pub async fn token(db: &Db, username: &str, name: &str, scope: &str, days: i64) -> Result<(), String> {
    let scope = TokenScope::parse(scope).map_err(|e| e.to_string())?;
    let (record, secret) =
        tongjia_server::auth::issue_token(db, username, name, scope, days, "system:cli", Some(&cli_audit("tongjia admin token")))
            .await
            .map_err(|e| e.to_string())?;
    eprintln!("token {} for {username}, {} scope, expires {}", record.id, scope.as_str(), record.expires_at);
    println!("{secret}");
    Ok(())
}

/// The audit record of an operator's command on the database's machine.
fn cli_audit(action: &str) -> tongjia_storage::AuditEntry {
    tongjia_storage::AuditEntry {
        principal: "system:cli".into(),
        role: "operator".into(),
        address: "local".into(),
        user_agent: format!("tongjia {}", env!("CARGO_PKG_VERSION")),
        action: action.into(),
        request: "{}".into(),
    }
}

/// Makes the demo's logins that do not exist yet; returns a line naming them.
pub async fn demo_logins(db: &Db) -> Result<String, String> {
    let mut made = vec![];
    for (username, role, stores, partner) in DEMO_LOGINS {
        let stores: Vec<String> = stores.iter().map(|s| s.to_string()).collect();
        let binding = binding(role.as_str(), &stores, partner)?;
        if db.account(username).await.map_err(|e| e.to_string())?.is_none() {
            let hash = tongjia_server::auth::secrets::hash_password(DEMO_PASSWORD).await;
            db.create_account(username, binding, hash, None).await.map_err(|e| e.to_string())?;
        }
        let bound = match (stores.is_empty(), partner) {
            (false, _) => format!(" at {}", stores.join(", ")),
            (true, Some(p)) => format!(" of {p}"),
            (true, None) => String::new(),
        };
        made.push(format!("{username} ({role}{bound})"));
    }
    Ok(format!("demo logins, password \"{DEMO_PASSWORD}\": {}", made.join(", ")))
}
