//! Which segment files make up the vectors of the published generation,
//! recorded in the catalog (`meta.vector_layout`) in the transaction that
//! publishes it, so a reader's snapshot names the files that match it.

use serde::{Deserialize, Serialize};

/// The catalog key of the layout.
pub const LAYOUT_KEY: &str = "vector_layout";

/// Most segments before the small ones are merged into one.
pub const MAX_SEGMENTS: usize = 8;

/// The segments of one generation and the ids deleted since they were
/// written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The segments, the base (largest, oldest ids) first.
    pub segments: Vec<SegmentInfo>,
    /// Chunk ids in a segment whose chunk is gone, ascending.
    pub tombstones: Vec<i64>,
    /// The number the next segment file takes.
    pub next: u64,
    /// The generation it describes: a layout left from another generation
    /// (a run stopped between its commit and its settling, an older writ)
    /// is not trusted, however its counts look.
    #[serde(default)]
    pub generation: i64,
}

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Its file name in the index folder (`seg-<n>.faiss`).
    pub file: String,
    /// Vectors in it.
    pub count: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Lowest and highest chunk id in it (chunk ids only grow, so each
    /// segment holds one range).
    pub min_id: i64,
    /// See `min_id`.
    pub max_id: i64,
    /// Whether it is an approximate (IVF) index.
    pub approximate: bool,
}

impl Layout {
    /// Vectors that answer: every segment's, less the tombstones.
    pub fn live(&self) -> u64 {
        let total = self
            .segments
            .iter()
            .fold(0u64, |sum, s| sum.saturating_add(s.count));
        total.saturating_sub(self.tombstones.len() as u64)
    }

    /// The name of a new segment file, taking its number.
    pub fn take_name(&mut self) -> String {
        let name = format!("seg-{}.faiss", self.next);
        self.next = self.next.saturating_add(1);
        name
    }

    /// Tombstones within `info`'s id range.
    pub fn buried_in(&self, info: &SegmentInfo) -> usize {
        let from = self.tombstones.partition_point(|&id| id < info.min_id);
        let to = self.tombstones.partition_point(|&id| id <= info.max_id);
        to.saturating_sub(from)
    }

    /// Whether the base should be rebuilt: the segments after it hold more
    /// than an eighth of it (or more than `floor` vectors while it is
    /// small), or deletions have left more than 1 in 200 of its vectors
    /// (at least 1,024) answering nothing. Each rebuild follows growth by a
    /// constant factor, so their total cost stays a small multiple of one.
    pub fn needs_compaction(&self, floor: u64) -> bool {
        let Some(base) = self.segments.first() else {
            return false;
        };
        let rest: u64 = self.segments.iter().skip(1).map(|s| s.count).sum();
        let tombstones = self.tombstones.len() as u64;
        rest > floor.max(base.count / 8) || tombstones > 1024.max(self.live() / 200)
    }

    /// The rule between the windows of one run: rebuild the base only when
    /// the rest outgrows it (and the floor), so a first index of N vectors
    /// rebuilds it O(log N) times and the exact segments never hold more
    /// than the base does.
    pub fn outgrown(&self, floor: u64) -> bool {
        let Some(base) = self.segments.first() else {
            return false;
        };
        let rest: u64 = self.segments.iter().skip(1).map(|s| s.count).sum();
        rest > floor.max(base.count)
    }

    /// Whether the segments after the base should be merged into one.
    pub fn needs_merge(&self) -> bool {
        self.segments.len() > MAX_SEGMENTS
    }

    /// Marks `ids` deleted (those within a segment's range).
    pub fn bury(&mut self, ids: &[i64]) {
        let within = |id: i64| {
            self.segments
                .iter()
                .any(|s| (s.min_id..=s.max_id).contains(&id))
        };
        let mut added: Vec<i64> = ids.iter().copied().filter(|&id| within(id)).collect();
        self.tombstones.append(&mut added);
        self.tombstones.sort_unstable();
        self.tombstones.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_are_counted_per_segment() {
        let mut l = Layout {
            segments: vec![seg(10, 1, 10), seg(5, 11, 15)],
            ..Layout::default()
        };
        l.bury(&[3, 4, 12, 40]);
        assert_eq!(l.buried_in(&l.segments[0]), 2);
        assert_eq!(l.buried_in(&l.segments[1]), 1);
        assert_eq!(l.live(), 12);
    }

    fn seg(count: u64, min_id: i64, max_id: i64) -> SegmentInfo {
        SegmentInfo {
            file: String::new(),
            count,
            bytes: 0,
            min_id,
            max_id,
            approximate: false,
        }
    }

    #[test]
    fn compaction_follows_growth_and_deletions() {
        let mut l = Layout {
            segments: vec![seg(80_000, 1, 80_000)],
            ..Layout::default()
        };
        assert!(!l.needs_compaction(4096));
        l.segments.push(seg(9_000, 80_001, 89_000));
        assert!(!l.needs_compaction(4096), "under an eighth");
        l.segments.push(seg(2_000, 89_001, 91_000));
        assert!(l.needs_compaction(4096), "over an eighth");

        let mut l = Layout {
            segments: vec![seg(1_000_000, 1, 1_000_000)],
            ..Layout::default()
        };
        l.bury(&(1..=4_000).collect::<Vec<_>>());
        assert!(!l.needs_compaction(4096));
        l.bury(&(4_001..=6_000).collect::<Vec<_>>());
        assert!(l.needs_compaction(4096));
        // Ids outside every segment are no tombstones.
        let before = l.tombstones.len();
        l.bury(&[2_000_000]);
        assert_eq!(l.tombstones.len(), before);
    }
}
