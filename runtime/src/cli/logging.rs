//! Logging as the global flags ask: `--log FILE` (else stderr),
//! `--log-format text|json` (json lines as runc writes them, which
//! containerd's shim reads back for the error of a failed command:
//! `{"level":"error","msg":"...","time":"..."}`), `--debug`, and
//! `--debug-log-dir DIR`, where every ringfence process of a command (the
//! command, its sandbox process, its gofer) also writes a debug-level log
//! file of its own.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsRawFd as _, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use anyhow::Context as _;
use tracing::{Event, Subscriber};
use tracing_subscriber::field::Visit;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use super::{GlobalArgs, LogFormat};

/// Environment variable overriding the log filter (tracing `EnvFilter` syntax).
const LOG_ENV: &str = "RINGFENCE_LOG";

/// Whether log lines go to a `--log` file (not to stderr).
static TO_FILE: AtomicBool = AtomicBool::new(false);

/// Whether `--log FILE` is set: a command's failure, printed on stderr, is
/// then logged too.
pub fn to_file() -> bool {
    TO_FILE.load(Ordering::Relaxed)
}

/// Sets up `tracing` as the global flags ask; `command` names this
/// process's debug log file.
pub fn init(global: &GlobalArgs, command: &str) -> anyhow::Result<()> {
    let default = if global.debug { "debug" } else { "warn" };
    let filter = match std::env::var(LOG_ENV) {
        Ok(spec) if !spec.is_empty() => {
            EnvFilter::try_new(&spec).with_context(|| format!("invalid {LOG_ENV} {spec:?}"))?
        }
        _ => EnvFilter::new(default),
    };
    let mut log_fd = None;
    let (writer, ansi) = match &global.log {
        Some(path) => {
            TO_FILE.store(true, Ordering::Relaxed);
            let file = open_append(path)?;
            log_fd = Some(file.as_raw_fd());
            (BoxMakeWriter::new(Mutex::new(file)), false)
        }
        // Colours only for a person at a terminal, never into pipes or files.
        None => (BoxMakeWriter::new(std::io::stderr), std::io::IsTerminal::is_terminal(&std::io::stderr())),
    };
    // Reloadable: `ringfence debug --log-level` changes a running
    // sandbox process's level through its control server.
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    ringfence::oci::server::set_log_reloader(Box::new(move |level: &str| {
        handle.reload(EnvFilter::new(level)).map_err(|e| anyhow::anyhow!("cannot change the log level: {e}"))
    }));
    let main = match global.log_format {
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).with_filter(filter).boxed()
        }
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().with_writer(writer).event_format(RuncJson).with_filter(filter).boxed()
        }
    };
    let debug_file = match &global.debug_log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let file = open_debug_log(dir, command)?;
            let _ = DEBUG_FILE.set(Mutex::new(file));
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(DebugFile)
                    .with_ansi(false)
                    .with_filter(EnvFilter::new("debug")),
            )
        }
        None => None,
    };
    // A child forked by this process (the sandbox process, its gofer: no
    // exec, so no `init` of its own) keeps the `--log` file and writes a
    // debug log file of its own.
    let debug_dir = global.debug_log_dir.clone();
    ringfence::forked::set_child_logging(Box::new(move |name: &str| {
        let mut keep: Vec<RawFd> = log_fd.into_iter().collect();
        if let (Some(dir), Some(file)) = (&debug_dir, DEBUG_FILE.get()) {
            match open_debug_log(dir, name) {
                Ok(new) => {
                    keep.push(new.as_raw_fd());
                    // Unlocked: the parent was single-threaded at the fork
                    // and not logging. The parent's file is closed here.
                    *file.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = new;
                }
                Err(e) => tracing::warn!("{e:#}"),
            }
        }
        keep
    }));
    tracing_subscriber::registry()
        .with(main)
        .with(debug_file)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// The `--debug-log-dir` file this process's debug log goes to; a forked
/// gofer replaces it with its own.
static DEBUG_FILE: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Writes to [`DEBUG_FILE`].
struct DebugFile;

impl<'a> MakeWriter<'a> for DebugFile {
    type Writer = DebugFileGuard<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        DebugFileGuard(DEBUG_FILE.get().map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)))
    }
}

struct DebugFileGuard<'a>(Option<MutexGuard<'a, std::fs::File>>);

impl Write for DebugFileGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// A new debug log file in `dir` for this process, named after `command`.
fn open_debug_log(dir: &Path, command: &str) -> anyhow::Result<std::fs::File> {
    // Sandbox and gofer processes have small pids in their own pid
    // namespace: the nanoseconds keep their names apart.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let name = format!("ringfence.{}.{:09}.{}.{command}.log", now.as_secs(), now.subsec_nanos(), std::process::id());
    open_append(&dir.join(name))
}

fn open_append(path: &Path) -> anyhow::Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))
}

/// runc's (logrus's) JSON line: `{"level":"info","msg":"...","time":"..."}`;
/// structured fields are appended to `msg` as `name=value`.
struct RuncJson;

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut msg = Message::default();
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        let line = serde_json::json!({
            "level": level,
            "msg": msg.text(),
            "time": ringfence::oci::state::now_rfc3339(),
        });
        writeln!(writer, "{line}")
    }
}

/// The message and fields of an event, as text.
#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Message {
    fn text(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            self.fields.push_str(&format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.record_debug(field, &value);
        }
    }
}
