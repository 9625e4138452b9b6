//! `tocsin token create|list|revoke`: API tokens, made and kept in the store directly (so the
//! first token can be made before anyone can call the API). Only a hash is stored; `create`
//! prints the token once.

use std::process::ExitCode;

use anyhow::Context;

use crate::serve::StoreArgs;

/// Arguments of `tocsin token`.
#[derive(clap::Args, Debug)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        /// Who or what uses it.
        #[arg(long)]
        name: String,
        /// operator (everything), admin (a tenant's objects), or read (reads only).
        #[arg(long, default_value = "operator")]
        role: String,
        /// The tenant the token acts for (admin and read tokens); without it, the
        /// operator's own objects.
        #[arg(long, default_value = "")]
        tenant: String,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by its id (the 8 characters after `tcn_`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

pub(crate) async fn token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open().await?;
    let now = tocsin_engine::now_ms();
    let code = match args.command {
        TokenCommand::Create { name, role, tenant } => {
            let (row, token) = tocsin_web::auth::issue_token(&store, &tenant, &name, &role, now)
                .await
                .context("creating a token")?;
            let scope = if row.tenant.is_empty() {
                String::new()
            } else {
                format!(", tenant {}", row.tenant)
            };
            eprintln!(
                "token {} ({}, role {}{scope}) created; it is shown once, keep it now:",
                row.id, row.name, row.role
            );
            println!("{token}");
            ExitCode::SUCCESS
        }
        TokenCommand::List => {
            let tokens = store.tokens().await?;
            println!(
                "{:<10} {:<9} {:<16} {:<20} {:<25} STATE",
                "ID", "ROLE", "TENANT", "NAME", "CREATED"
            );
            for t in tokens {
                let created = jiff::Timestamp::from_millisecond(t.created_ms)
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                let state = if t.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let tenant = if t.tenant.is_empty() { "-" } else { &t.tenant };
                println!(
                    "{:<10} {:<9} {:<16} {:<20} {:<25} {state}",
                    t.id, t.role, tenant, t.name, created
                );
            }
            ExitCode::SUCCESS
        }
        TokenCommand::Revoke { id } => {
            if store.revoke_token(&id, now).await? {
                println!("token {id} revoked");
                ExitCode::SUCCESS
            } else {
                eprintln!("tocsin: no active token {id:?}");
                ExitCode::from(1)
            }
        }
    };
    store.close().await;
    Ok(code)
}
