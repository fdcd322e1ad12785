//! ActiveMQ destination wildcards for the include/exclude lists (`DestinationFilter`): names
//! split at `.`; `*` matches one part, `>` the rest; a filter matches one destination type.

use crate::messaging::Dest;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DestFilter {
    pub topic: bool,
    pub pattern: String,
}

impl DestFilter {
    /// `queue://a.>` or `topic://b.*`; a bare name is a queue.
    pub fn parse(text: &str) -> Option<DestFilter> {
        let (topic, pattern) = if let Some(rest) = text.strip_prefix("topic://") {
            (true, rest)
        } else {
            (false, text.strip_prefix("queue://").unwrap_or(text))
        };
        (!pattern.is_empty()).then(|| DestFilter { topic, pattern: pattern.to_string() })
    }

    pub fn matches(&self, dest: &Dest) -> bool {
        let (topic, name) = match dest {
            Dest::Queue(name) => (false, name.as_str()),
            Dest::Topic(name) => (true, name.as_str()),
        };
        topic == self.topic && matches_parts(&self.pattern, name)
    }
}

fn matches_parts(pattern: &str, name: &str) -> bool {
    let mut names = name.split('.');
    for part in pattern.split('.') {
        if part == ">" {
            return true;
        }
        match names.next() {
            Some(n) if part == "*" || part == n => {}
            _ => return false,
        }
    }
    names.next().is_none()
}

impl std::fmt::Display for DestFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", if self.topic { "topic" } else { "queue" }, self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_parts_and_the_rest() {
        let f = |t: &str| DestFilter::parse(t).expect("a filter");
        let q = |n: &str| Dest::Queue(n.into());
        assert!(f("Sample.>").matches(&q("Sample.Queue.x")));
        assert!(f("Sample.*").matches(&q("Sample.Queue")));
        assert!(!f("Sample.*").matches(&q("Sample.Queue.x")));
        assert!(!f("Sample.*").matches(&q("Sample")));
        assert!(f("SampleQueue").matches(&q("SampleQueue")));
        assert!(!f("SampleQueue").matches(&Dest::Topic("SampleQueue".into())), "a queue filter");
        assert!(f("topic://>").matches(&Dest::Topic("SampleTopic".into())));
        assert!(DestFilter::parse("topic://").is_none());
    }
}
