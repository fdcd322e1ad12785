//! Where a scenario came from (a built-in name or a file) and the `--set` overrides applied to
//! it: everything a printed replay command needs to reproduce a run exactly when pasted.

use crate::{builtin, format};
use sim::Spec;

/// A scenario's source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    Builtin(String),
    /// The path as the user gave it (pasted into the same shell, it names the same file).
    File(String),
}

/// A scenario to load: its source and the overrides, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub origin: Origin,
    pub sets: Vec<String>,
}

impl Invocation {
    /// Loads and validates the scenario with its overrides; errors are one line.
    pub fn load(&self) -> Result<Spec, String> {
        let mut spec = match &self.origin {
            Origin::Builtin(name) => builtin::named(name).map_err(|e| e.to_string())?,
            Origin::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{path}: cannot read the scenario file: {e}"))?;
                format::parse(path, &text).map_err(|e| e.to_string())?
            }
        };
        for assignment in &self.sets {
            format::apply_override(&mut spec, assignment).map_err(|e| e.to_string())?;
        }
        Ok(spec)
    }

    /// The arguments that select this scenario: `master-crash` or `--scenario-file F`
    /// (`--scenario-file=F` when F starts with `-`, which would read as an option).
    fn selector(&self) -> Vec<String> {
        match &self.origin {
            Origin::Builtin(name) => vec![name.clone()],
            Origin::File(path) if path.starts_with('-') => vec![format!("--scenario-file={path}")],
            Origin::File(path) => vec!["--scenario-file".to_string(), path.clone()],
        }
    }

    /// `amqsim replay <scenario> --seed N [--set ...]`, shell-quoted.
    pub fn replay_command(&self, seed: u64) -> String {
        let mut words = vec!["amqsim".to_string(), "replay".to_string()];
        words.extend(self.selector());
        words.push("--seed".into());
        words.push(seed.to_string());
        for assignment in &self.sets {
            words.push("--set".into());
            words.push(assignment.clone());
        }
        words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
    }
}

/// Quotes a word for a POSIX shell: bare if it is made of safe characters, otherwise in single
/// quotes (a single quote inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Splits a command line quoted by [`shell_quote`] (bare words, single quotes, `'\''`) back
/// into words. `None` for unbalanced quotes.
pub fn shell_split(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => current.push(other),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        for word in ["sync=quorum_mem", "fsync_us=[100, 400]", "it's", "a b", "", "/tmp/x y/z.toml", "$HOME"]
        {
            let quoted = shell_quote(word);
            assert_eq!(shell_split(&quoted), Some(vec![word.to_string()]), "{quoted}");
        }
        assert_eq!(shell_quote("sync=quorum_mem"), "sync=quorum_mem");
        assert_eq!(shell_quote("fsync_us=[100, 400]"), "'fsync_us=[100, 400]'");
    }

    #[test]
    fn replay_commands_carry_the_file_and_every_set() {
        let invocation = Invocation {
            origin: Origin::File("/tmp/my scenarios/a.toml".into()),
            sets: vec!["sync=quorum_mem".into(), "fsync_us=[1, 2]".into()],
        };
        assert_eq!(
            invocation.replay_command(7),
            "amqsim replay --scenario-file '/tmp/my scenarios/a.toml' --seed 7 --set sync=quorum_mem --set 'fsync_us=[1, 2]'"
        );
        let builtin = Invocation { origin: Origin::Builtin("master-crash".into()), sets: vec![] };
        assert_eq!(builtin.replay_command(3), "amqsim replay master-crash --seed 3");
        let dashed = Invocation { origin: Origin::File("-m.toml".into()), sets: vec![] };
        assert_eq!(dashed.replay_command(1), "amqsim replay --scenario-file=-m.toml --seed 1");
    }
}
