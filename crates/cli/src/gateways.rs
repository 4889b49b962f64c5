//! The outside services a server talks to — the SMS gateway for members' codes and the
//! online payment providers — and `tongjia simulator notify`, which plays the payment
//! simulator's part: it signs a notification with the simulator's secret and sends it.

use std::path::PathBuf;

/// The secret the demo's payment simulator signs with when none is given. Demo only: a
/// server started without `--demo` runs the simulator only under a secret it is given.
pub const DEMO_SIMULATOR_SECRET: &str = "tongjia-demo-simulator";

/// Where codes and refunds go.
#[derive(clap::Args)]
pub struct GatewayArgs {
    /// File members' one-time codes are appended to, one line each (the demo's SMS
    /// gateway; a deployment plugs in its own, see docs/access.md).
    #[arg(long, env = "TONGJIA_SMS_LOG", default_value = "tongjia-sms.log")]
    sms_log: PathBuf,
    /// Accept the payment simulator's notifications signed with this secret (with `--demo`
    /// the demo's secret is the default). See docs/payments.md.
    #[arg(long, env = "TONGJIA_PAYMENT_SIMULATOR_SECRET", hide_env_values = true)]
    payment_simulator_secret: Option<String>,
    /// File the payment simulator's refunds are appended to, one JSON line each.
    #[arg(long, env = "TONGJIA_REFUNDS_LOG", default_value = "tongjia-refunds.log")]
    refunds_log: PathBuf,
}

impl GatewayArgs {
    /// Sets the code sender and the payment providers.
    pub fn apply(&self, demo: bool, settings: &mut tongjia_server::Settings) {
        settings.code_sender = std::sync::Arc::new(tongjia_server::auth::codes::LogFileSender::new(&self.sms_log));
        let secret = self.payment_simulator_secret.clone().or_else(|| demo.then(|| DEMO_SIMULATOR_SECRET.to_owned()));
        if let Some(secret) = secret {
            let simulator = tongjia_server::payments::simulator::Simulator::new(&secret, &self.refunds_log);
            settings.payment_providers = std::mem::take(&mut settings.payment_providers).with("simulator", std::sync::Arc::new(simulator));
            tracing::info!(refunds = %self.refunds_log.display(), "payment simulator accepting signed notifications");
        }
    }
}

impl GatewayArgs {
    /// What the demo prints about paying online.
    pub fn demo_note(&self) -> String {
        let secret = if self.payment_simulator_secret.is_some() { "the secret given" } else { DEMO_SIMULATOR_SECRET };
        format!(
            "online payments: the simulator signs with {secret}; pay an order with\n  \
             cargo run --release -q -- simulator notify --order ORDER_ID --amount-fen TOTAL_FEN\n\
             (codes texted to members: {}; refunds to the simulator: {})",
            self.sms_log.display(),
            self.refunds_log.display()
        )
    }
}

/// What `tongjia simulator notify` sends.
#[derive(clap::Args)]
pub struct NotifyArgs {
    /// The server to notify.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The order paid.
    #[arg(long)]
    order: String,
    /// The amount taken, in fen (the order's total, or the server refuses it).
    #[arg(long)]
    amount_fen: i64,
    /// The provider's transaction id (default: a new one).
    #[arg(long)]
    transaction_id: Option<String>,
    /// The simulator's secret (the server's `--payment-simulator-secret`).
    #[arg(long, env = "TONGJIA_PAYMENT_SIMULATOR_SECRET", hide_env_values = true, default_value = DEMO_SIMULATOR_SECRET)]
    secret: String,
}

/// Signs and sends one payment notification, and prints the server's answer.
pub async fn notify(args: &NotifyArgs) -> Result<(), String> {
    let tx = args.transaction_id.clone().unwrap_or_else(|| format!("sim-{}", uuid_like()));
    let body = serde_json::json!({"transaction_id": tx, "order_id": args.order, "amount_fen": args.amount_fen});
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let url = format!("{}/api/v1/payment-notifications/simulator", args.server.trim_end_matches('/'));
    let mut req = reqwest::Client::new().post(url).header("content-type", "application/json");
    for (name, value) in tongjia_server::payments::simulator::signed_headers(&args.secret, &bytes) {
        req = req.header(name, value);
    }
    let res = req.body(bytes).send().await.map_err(|e| format!("cannot reach {}: {e}", args.server))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    println!("{text}");
    if status.is_success() { Ok(()) } else { Err(format!("the server answered {status}")) }
}

/// A transaction id no other run of this command makes.
fn uuid_like() -> String {
    tongjia_server::auth::secrets::random_secret("")[..24].to_owned()
}
