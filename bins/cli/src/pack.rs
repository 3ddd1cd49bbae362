//! `relay pack install|list|show` (server) and `relay pack validate|checksum` (offline).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use relay_api_types as api;
use relay_pack::{Pack, PackError, Problem};
use serde_json::{json, Value};

use crate::client::{body, read, segment};
use crate::input::usage;
use crate::output::{at, list, print_json, render_fields, render_table, s, OutputFormat};
use crate::Ctx;

/// Pack subcommands.
#[derive(Debug, Subcommand)]
pub enum PackCommand {
    /// Install (or upgrade) a pack on the server: a directory is zipped here and
    /// uploaded, a .zip is uploaded as it is. With --on-server, PATH names a pack in
    /// the server's packs directory (RELAY_PACKS_DIR) instead, and nothing is read here.
    Install {
        /// Pack directory or .zip file (with --on-server: a path in the server's packs
        /// directory, relative to it).
        path: PathBuf,
        /// Install PATH from the server's packs directory instead of uploading it.
        #[arg(long)]
        on_server: bool,
        /// Accepted for compatibility: uploading is the default.
        #[arg(long, hide = true, conflicts_with = "on_server")]
        upload: bool,
    },
    /// List installed packs.
    List,
    /// Show an installed pack and its providers.
    Show {
        /// Pack id.
        pack: String,
    },
    /// Validate a pack directory or .zip and list its providers (exit 1 when invalid).
    Validate {
        /// Pack directory or .zip file.
        path: PathBuf,
    },
    /// Write checksums.txt for every file of a pack directory.
    Checksum {
        /// Pack directory.
        dir: PathBuf,
    },
    /// Propose a pack change from the provider's model drift: writes the installed
    /// pack with the provider's models changed, the version bumped, checksums
    /// regenerated and a PROPOSAL.md into a new directory (or prints the manifest patch
    /// with --patch). Nothing is installed and nothing changes on the host: to apply,
    /// review it, `relay pack install DIR` and reconcile.
    Propose {
        #[command(flatten)]
        diff: crate::models::DiffArgs,
        /// Directory to write the proposed pack into (must not exist, or be empty).
        #[arg(long, value_name = "DIR", required_unless_present = "patch")]
        out: Option<PathBuf>,
        /// Print a unified diff of the changed manifests instead of writing a directory.
        #[arg(long)]
        patch: bool,
    },
}

/// Runs a pack subcommand.
pub fn run(command: PackCommand, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let format = ctx.format;
    match command {
        PackCommand::Validate { path } => validate(&path, format),
        PackCommand::Checksum { dir } => checksum(&dir, format),
        PackCommand::Propose { diff, out, patch } => propose(&diff, out.as_deref(), patch, ctx),
        PackCommand::Install {
            path, on_server, ..
        } => install(&path, on_server, ctx),
        PackCommand::List => {
            let doc = ctx.client()?.get("/api/packs", &[])?;
            match format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => {
                    print!("{}", packs_table(&read::<api::PackList>(&doc)?.packs))
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PackCommand::Show { pack } => {
            let doc = ctx
                .client()?
                .get(&format!("/api/packs/{}", segment(&pack)), &[])?;
            match format {
                OutputFormat::Json => print_json(&doc)?,
                OutputFormat::Table => print!("{}", installed_pack_text(&read(&doc)?)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn propose(
    args: &crate::models::DiffArgs,
    out: Option<&Path>,
    patch: bool,
    ctx: &Ctx,
) -> anyhow::Result<ExitCode> {
    if args.last {
        return Err(usage("--last: a proposal always checks the models now"));
    }
    if let Some(dir) = out {
        if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            return Err(usage(format!(
                "--out {}: exists and is not empty",
                dir.display()
            )));
        }
    }
    let mut client = ctx.client()?;
    let request = args.request(ctx, &mut client)?;
    let doc = client.post(
        &format!("/api/providers/{}/models/proposal", segment(&args.provider)),
        &body(&request),
    )?;
    let proposal: api::PackProposal = read(&doc)?;
    if patch {
        print!("{}", client.scrub(&proposal.patch));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dir) = out else {
        return Err(usage("--out DIR or --patch is required"));
    };
    for file in &proposal.files {
        relay_pack::checksums::check_relative_path(&file.path).map_err(|e| {
            anyhow::anyhow!("the server proposed an unsafe path {}: {e}", file.path)
        })?;
        let target = dir.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, &file.content)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    // The proposal must stand on its own, as `relay pack validate DIR` checks it.
    let pack = load(dir)
        .with_context(|| format!("the proposed pack in {} does not validate", dir.display()))?;
    match ctx.format {
        OutputFormat::Json => print_json(&json!({
            "out": dir.display().to_string(),
            "pack_id": pack.manifest.pack_id,
            "version_from": proposal.version_from,
            "version_to": proposal.version_to,
            "changes": proposal.changes,
            "drifted": proposal.diff.drifted,
        }))?,
        OutputFormat::Table => {
            print!(
                "{}",
                client.scrub(&crate::models::diff_text(&proposal.diff))
            );
            println!(
                "\nwrote {} {} → {} to {} ({} files; see PROPOSAL.md)",
                pack.manifest.pack_id,
                proposal.version_from,
                proposal.version_to,
                dir.display(),
                proposal.files.len()
            );
            for c in &proposal.changes {
                println!("  {c}");
            }
            println!(
                "nothing changed on the host: review it, `relay pack install {}`, then reconcile",
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn install(path: &Path, on_server: bool, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    if on_server {
        let name = path
            .to_str()
            .ok_or_else(|| usage(format!("pack path {}: not valid UTF-8", path.display())))?;
        let doc = client.post(
            "/api/packs/install",
            &body(&api::InstallPackRequest {
                path: name.to_owned(),
            }),
        )?;
        return print_installed(&doc, ctx.format);
    }
    let metadata =
        std::fs::metadata(path).map_err(|e| usage(format!("pack path {}: {e}", path.display())))?;
    let doc = if metadata.is_dir() {
        let bytes = zip_dir(path)?;
        client.post_bytes("/api/packs/install", "application/zip", &bytes)?
    } else {
        let bytes =
            std::fs::read(path).map_err(|e| usage(format!("pack path {}: {e}", path.display())))?;
        client.post_bytes("/api/packs/install", "application/zip", &bytes)?
    };
    print_installed(&doc, ctx.format)
}

fn print_installed(doc: &Value, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match format {
        OutputFormat::Json => print_json(doc)?,
        OutputFormat::Table => {
            let pack: api::Pack = read(doc)?;
            println!(
                "installed pack {} {}",
                s(&pack.record.pack_id),
                s(&pack.record.version)
            );
            print!("{}", installed_pack_text(&pack));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Zips a pack directory in memory: every regular file under its path relative to the
/// directory, in a stable order. Symlinks, FIFOs, sockets and devices are refused, as
/// the server refuses them.
fn zip_dir(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((current, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .with_context(|| format!("cannot read {}", current.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", current.display()))?;
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| {
                anyhow::anyhow!("{}: file name is not UTF-8", entry.path().display())
            })?;
            let rel = format!("{prefix}{name}");
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            if kind.is_symlink() {
                anyhow::bail!(
                    "{}: symlinks are not allowed in a pack",
                    entry.path().display()
                );
            } else if kind.is_dir() {
                pending.push((entry.path(), format!("{rel}/")));
            } else if kind.is_file() {
                files.push((rel, entry.path()));
            } else {
                anyhow::bail!(
                    "{}: only directories and regular files are allowed in a pack",
                    entry.path().display()
                );
            }
        }
    }
    files.sort();
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (rel, file) in &files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        writer
            .start_file(rel.as_str(), options)
            .with_context(|| format!("cannot zip {rel}"))?;
        writer
            .write_all(&bytes)
            .with_context(|| format!("cannot zip {rel}"))?;
    }
    let cursor = writer.finish().context("cannot finish the zip")?;
    Ok(cursor.into_inner())
}

fn packs_table(packs: &[api::Pack]) -> String {
    if packs.is_empty() {
        return "no pack installed (install one with `relay pack install`)\n".into();
    }
    let rows: Vec<Vec<String>> = packs
        .iter()
        .map(|p| {
            vec![
                s(&p.record.pack_id),
                s(&p.record.version),
                s(&p.record.name),
                p.providers.len().to_string(),
                p.record.source_kind.to_string(),
                at(p.record.updated_at),
            ]
        })
        .collect();
    render_table(
        &[
            "PACK",
            "VERSION",
            "NAME",
            "PROVIDERS",
            "SOURCE",
            "INSTALLED",
        ],
        &rows,
    )
}

/// An installed pack (as the server answers it) as text.
fn installed_pack_text(pack: &api::Pack) -> String {
    let r = &pack.record;
    let mut out = render_fields(&[
        ("pack", s(&r.pack_id)),
        ("version", s(&r.version)),
        ("name", s(&r.name)),
        ("host_compat", s(&r.host_compat)),
        ("source", format!("{} {}", r.source_kind, s(&r.source_path))),
        ("source_digest", s(&r.source_digest)),
        ("installed_at", at(r.installed_at)),
        ("updated_at", at(r.updated_at)),
    ]);
    if !pack.removed.is_empty() {
        out.push_str(&format!("removed providers: {}\n", list(&pack.removed)));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = pack
        .providers
        .iter()
        .map(|p| {
            vec![
                s(&p.provider_id),
                s(&p.display_name),
                p.status.to_string(),
                s(&p.base_url),
                s(&p.smoke_test_model),
                p.default_models.len().to_string(),
            ]
        })
        .collect();
    out.push_str(&render_table(
        &[
            "PROVIDER",
            "NAME",
            "STATUS",
            "BASE_URL",
            "SMOKE_MODEL",
            "MODELS",
        ],
        &rows,
    ));
    out
}

fn load(path: &Path) -> Result<Pack, PackError> {
    if path.is_dir() {
        relay_pack::load_dir(path)
    } else {
        relay_pack::load_zip(path)
    }
}

fn validate(path: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match load(path) {
        Ok(pack) => {
            print_pack(&pack, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(PackError::Invalid(problems)) => {
            print_problems(path, &problems, format)?;
            Ok(ExitCode::FAILURE)
        }
        Err(other) => Err(other).with_context(|| format!("cannot load pack {}", path.display())),
    }
}

fn print_pack(pack: &Pack, format: OutputFormat) -> anyhow::Result<()> {
    let m = &pack.manifest;
    match format {
        OutputFormat::Json => print_json(&json!({
            "valid": true,
            "pack_id": m.pack_id,
            "version": m.version.to_string(),
            "name": m.name,
            "host_compat": m.host_compat.to_string(),
            "source_digest": pack.source_digest,
            "providers": pack.providers.iter().map(|p| json!({
                "provider_id": p.provider_id,
                "display_name": p.display_name,
                "platform": p.platform.as_str(),
                "native_platform": p.native_platform.as_ref().map(|n| json!({
                    "platform": n.platform.as_str(),
                    "host_version": n.host_version.to_string(),
                })),
                "base_url": p.base_url,
                "smoke_test_model": p.smoke_test_model,
                "default_models": p.default_models,
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            println!("pack {} {} ({})", m.pack_id, m.version, m.name);
            println!("host_compat: {}", m.host_compat);
            println!("source_digest: {}", pack.source_digest);
            println!();
            let rows: Vec<Vec<String>> = pack
                .providers
                .iter()
                .map(|p| {
                    vec![
                        p.provider_id.clone(),
                        match &p.native_platform {
                            Some(n) => {
                                format!("{} ({} on {})", p.platform, n.platform, n.host_version)
                            }
                            None => p.platform.to_string(),
                        },
                        p.base_url.clone(),
                        p.smoke_test_model.clone(),
                        p.default_models.len().to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                render_table(
                    &["PROVIDER", "PLATFORM", "BASE_URL", "SMOKE_MODEL", "MODELS"],
                    &rows
                )
            );
            println!("\nvalid: {} provider(s)", pack.providers.len());
            Ok(())
        }
    }
}

fn print_problems(path: &Path, problems: &[Problem], format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print_json(&json!({ "valid": false, "problems": problems })),
        OutputFormat::Table => {
            println!(
                "{}: invalid pack, {} problem(s):",
                path.display(),
                problems.len()
            );
            for problem in problems {
                println!("  {problem}");
            }
            Ok(())
        }
    }
}

fn checksum(dir: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let content = match relay_pack::write_checksums(dir) {
        Ok(content) => content,
        Err(PackError::Invalid(problems)) => {
            print_problems(dir, &problems, format)?;
            return Ok(ExitCode::FAILURE);
        }
        Err(other) => {
            return Err(other)
                .with_context(|| format!("cannot write checksums for {}", dir.display()))
        }
    };
    let count = content.lines().count();
    let target = dir.join(relay_pack::CHECKSUMS_FILE);
    match format {
        OutputFormat::Json => print_json(&json!({ "path": target, "files": count }))?,
        OutputFormat::Table => println!("wrote {} ({count} files)", target.display()),
    }
    Ok(ExitCode::SUCCESS)
}
