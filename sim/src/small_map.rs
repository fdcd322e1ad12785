//! A map for the handful of entries a process has (its timers, its connections): a sorted
//! vector, searched by binary search. Cheaper than a `BTreeMap` at this size (one allocation,
//! no nodes), and it iterates in key order as a `BTreeMap` does, so swapping one for the other
//! changes nothing a run does.

#[derive(Debug, Clone)]
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap { entries: Vec::new() }
    }
}

/// Up to this many entries a lookup compares for equality front to back: cheaper than a binary
/// search's ordered comparisons of nested enums (timer ids) at this size.
const LINEAR_MAX: usize = 16;

impl<K: Ord, V> SmallMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// The index of `key`, if present.
    fn position(&self, key: &K) -> Option<usize> {
        if self.entries.len() <= LINEAR_MAX {
            self.entries.iter().position(|(k, _)| k == key)
        } else {
            self.find(key).ok()
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// Takes every entry, in key order.
    pub fn take(&mut self) -> Vec<(K, V)> {
        std::mem::take(&mut self.entries)
    }
}

/// A map that is never iterated (a process's armed timers, looked up by a nested-enum id on
/// every timer effect and firing): a hash map under a fixed hasher. It offers no iteration, so
/// nothing a run does can depend on its order, and a lookup hashes the id once instead of
/// comparing it with every entry.
#[derive(Debug, Clone)]
pub struct Unordered<K, V> {
    #[allow(clippy::disallowed_types)] // never iterated: the type offers no way to
    map: std::collections::HashMap<K, V, std::hash::BuildHasherDefault<crate::trace::Fnv>>,
}

impl<K, V> Default for Unordered<K, V> {
    fn default() -> Self {
        Unordered { map: Default::default() }
    }
}

impl<K: Eq + std::hash::Hash, V> Unordered<K, V> {
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Inserts or replaces; returns the value replaced.
    #[cfg(test)]
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.map.insert(key, value)
    }

    /// The key's place, occupied or vacant: one lookup to read and then set it.
    pub fn entry(&mut self, key: K) -> std::collections::hash_map::Entry<'_, K, V> {
        self.map.entry(key)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The operations both maps share, so one driver checks each against a `BTreeMap`.
    trait Map {
        fn put(&mut self, key: u8, value: u32) -> Option<u32>;
        fn take_out(&mut self, key: u8) -> Option<u32>;
        fn look(&self, key: u8) -> Option<u32>;
    }

    macro_rules! impl_map {
        ($map:ty) => {
            impl Map for $map {
                fn put(&mut self, key: u8, value: u32) -> Option<u32> {
                    self.insert(key, value)
                }
                fn take_out(&mut self, key: u8) -> Option<u32> {
                    self.remove(&key)
                }
                fn look(&self, key: u8) -> Option<u32> {
                    self.get(&key).copied()
                }
            }
        };
    }
    impl_map!(SmallMap<u8, u32>);
    impl_map!(Unordered<u8, u32>);

    /// Runs `ops` (insert, remove, get) on `map` and on a `BTreeMap`, asserting every answer
    /// is the same; returns the reference for what is left.
    fn against_btree_map(
        map: &mut impl Map,
        ops: Vec<(u8, u8, u32)>,
    ) -> Result<BTreeMap<u8, u32>, TestCaseError> {
        let mut reference = BTreeMap::new();
        for (op, key, value) in ops {
            match op {
                0 => prop_assert_eq!(map.put(key, value), reference.insert(key, value)),
                1 => prop_assert_eq!(map.take_out(key), reference.remove(&key)),
                _ => prop_assert_eq!(map.look(key), reference.get(&key).copied()),
            }
        }
        Ok(reference)
    }

    proptest! {
        /// Whatever the operations, it holds and iterates exactly what a BTreeMap would.
        #[test]
        fn behaves_as_a_btree_map(ops in prop::collection::vec((0u8..3, 0u8..40, any::<u32>()), 0..300)) {
            let mut small = SmallMap::default();
            let reference = against_btree_map(&mut small, ops)?;
            let taken = small.take();
            let expected: Vec<(u8, u32)> = reference.into_iter().collect();
            prop_assert_eq!(taken, expected);
        }

        /// Whatever the operations, every insert, removal and lookup answers as a BTreeMap's.
        #[test]
        fn unordered_answers_as_a_btree_map(ops in prop::collection::vec((0u8..3, 0u8..40, any::<u32>()), 0..300)) {
            let mut small = Unordered::default();
            let reference = against_btree_map(&mut small, ops)?;
            prop_assert_eq!(small.len(), reference.len());
        }
    }
}
