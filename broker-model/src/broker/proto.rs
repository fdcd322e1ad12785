//! The broker's own protocol with the world: its timers, the replication wire messages between a
//! master and its slaves, and the records it keeps on disk.

use crate::store::{Entry, LogFile};

/// Timers of a broker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BrokerTimer {
    /// The process finished booting: start the first `BrokerService`.
    Startup,
    /// A demoted broker's `BrokerService.stop()` reached the store's `doStop`.
    Stopped {
        instance: u32,
    },
    /// The in-JVM restart after a demotion.
    Restart {
        instance: u32,
    },
    /// LevelDB recovery of a new master finished.
    MasterRecovered {
        instance: u32,
    },
    SlaveRetry {
        instance: u32,
    },
    /// A slave finished writing the files it downloaded.
    TransferWritten {
        instance: u32,
    },
    /// The inactivity monitor's write check: a `KeepAliveInfo` to every client.
    KeepAlive {
        instance: u32,
    },
}

/// Replicated LevelDB master ↔ slave (§2.1–2.3). The transfer session is folded into the WAL
/// session's connection: `get` and its data travel on the same link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplMsg {
    Login {
        node_id: String,
    },
    /// The master's append position and log files; streaming starts after it.
    SyncResponse {
        position: u64,
        files: Vec<LogFile>,
    },
    /// Download every record from `from` up to the sync position.
    Get {
        from: u64,
    },
    Transfer {
        entries: Vec<Entry>,
        bytes: u64,
    },
    Wal {
        entries: Vec<Entry>,
        sync: bool,
    },
    WalAck {
        position: u64,
    },
}

impl ReplMsg {
    /// Bytes on the wire, for the network's bandwidth.
    pub fn wire_size(&self) -> u64 {
        match self {
            ReplMsg::Transfer { bytes, .. } => 100 + bytes,
            ReplMsg::Wal { entries, .. } => 100 + entries.iter().map(Entry::len).sum::<u64>(),
            ReplMsg::SyncResponse { files, .. } => 200 + 60 * files.len() as u64,
            _ => 100,
        }
    }
}

/// What a broker keeps on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BrokerRecord {
    /// `nodeid.txt`.
    NodeId(String),
    /// A log record.
    Log(Entry),
    /// The log was cut back to this position (a slave's stash before a download).
    Truncate(u64),
}
