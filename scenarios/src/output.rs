//! Writing to stdout and stderr without panicking: a closed pipe (`amqsim replay ... | head`)
//! ends the program quietly with exit code 0, as other Unix tools do.

use std::io::{ErrorKind, Write};

/// Exit code when the reader of our output went away.
pub const BROKEN_PIPE_EXIT: i32 = 0;

fn write_or_exit(result: std::io::Result<()>) {
    if let Err(error) = result {
        if error.kind() == ErrorKind::BrokenPipe {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        // Any other write error (a full disk behind a redirect): say so once and stop.
        let _ = writeln!(std::io::stderr(), "error: cannot write output: {error}");
        std::process::exit(2);
    }
}

/// One line to stdout.
pub fn line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    write_or_exit(writeln!(stdout, "{text}"));
}

/// One line to stderr.
pub fn err_line(text: &str) {
    let mut stderr = std::io::stderr().lock();
    write_or_exit(writeln!(stderr, "{text}"));
}

/// Text (with its own newlines) to stdout, e.g. clap's help.
pub fn text(text: &str) {
    let mut stdout = std::io::stdout().lock();
    write_or_exit(write!(stdout, "{text}").and_then(|_| stdout.flush()));
}

/// Writes raw bytes to stdout (the trace writer), exiting quietly on a broken pipe.
pub fn bytes(data: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    write_or_exit(stdout.write_all(data));
}

/// Flushes stdout.
pub fn flush() {
    write_or_exit(std::io::stdout().lock().flush());
}
