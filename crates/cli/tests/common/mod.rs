//! Running the `tongjia` binary from tests: commands, servers, CSV files.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `tongjia --db DB ARGS...`: whether it succeeded, and its output.
pub fn tongjia(db: &str, args: &[&str]) -> (bool, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_tongjia")).arg("--db").arg(db).args(args).env("RUST_LOG", "warn").output().expect("run tongjia");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A `tongjia serve` process, killed if the test ends without stopping it.
pub struct Server(Option<std::process::Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `tongjia serve` on an ephemeral port; returns the process and its address.
pub fn serve(db: &str, extra: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongjia"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so that the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Server(Some(child)), addr)
}

/// Stops a server with SIGTERM and checks that it exits cleanly.
pub fn stop(mut server: Server) {
    let mut child = server.0.take().expect("running");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

pub async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write csv");
    path.display().to_string()
}

pub const CATALOG_HEADER: &str = "product_code,product_name,category,sku_code,sku_name,attributes,gtin,active,list_price_fen\n";

/// A token for an `hq_admin` account `admin` of the database `db`, made with `tongjia admin`
/// as an operator would (the account is made first if it does not exist).
pub fn admin_token(db: &str) -> String {
    admin_token_with(env!("CARGO_BIN_EXE_tongjia"), db)
}

/// [`admin_token`], made by the binary `bin`.
pub fn admin_token_with(bin: &str, db: &str) -> String {
    account_token(bin, db, "admin", &[])
}

/// Makes the account `username` (with `role_args` such as `--role store_staff --store D-1`;
/// hq_admin without) and a token for it, with the binary `bin`.
pub fn account_token(bin: &str, db: &str, username: &str, role_args: &[&str]) -> String {
    let run = |args: &[&str]| {
        Command::new(bin)
            .arg("--db")
            .arg(db)
            .args(args)
            .env("RUST_LOG", "warn")
            .env("TONGJIA_ADMIN_PASSWORD", "admin password")
            .output()
            .expect("run tongjia admin")
    };
    let _ = run(&[&["admin", "create", "--username", username], role_args].concat());
    let out = run(&["admin", "token", "--username", username, "--name", "tests"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A client that sends `token` with every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().pool_max_idle_per_host(64).default_headers(headers).build().unwrap()
}
