//! The node's hasher: SipHash-1-3 with fixed (zero) keys, as
//! `std::collections::hash_map::DefaultHasher::new()` is, so that the
//! iteration order of the node's maps (`node::Map`), which becomes the
//! order of its outputs wherever a role walks a map, depends only on the
//! node's inputs: a simulator run replays byte for byte from its seed, the
//! same seeds as with std's hasher.
//!
//! Why not std's: it hashes an integer through the generic byte-slice
//! `write`, and the node hashes tids (four u32) and ids on every message:
//! in a profile of `rtr bench --daemon` at 32 clients about a sixth of the
//! node thread's time was SipHash. `siphasher`'s SipHasher13 computes the
//! same function over the same bytes with integers written in one step.
//! The test below pins the equality: if std's DefaultHasher ever changes
//! its algorithm, it fails, and whoever updates it knows the simulator's
//! seeds replay differently from then on either way.

/// The hasher of `node::Map` and `node::Set` (`BuildHasherDefault` of it:
/// `new()` has the zero keys).
pub type FixedHasher = siphasher::sip::SipHasher13;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    use crate::tid::Tid;

    fn both<T: Hash + ?Sized>(v: &T) -> (u64, u64) {
        let mut a = DefaultHasher::new();
        let mut b = FixedHasher::new();
        v.hash(&mut a);
        v.hash(&mut b);
        (a.finish(), b.finish())
    }

    #[test]
    fn it_hashes_the_node_keys_as_std_default_hasher_does() {
        // The key types of the node's maps: tids, ids (u32, u64, usize),
        // channel refs (u32, u32), names, and pairs of names.
        for i in [0u32, 1, 7, 255, 256, 65_535, 1 << 24, u32::MAX] {
            let tid = Tid { node: i, incarnation: i ^ 5, conn: i.wrapping_mul(3), seq: u64::from(i) << 7 };
            let (a, b) = both(&tid);
            assert_eq!(a, b, "{tid:?}");
            let (a, b) = both(&i);
            assert_eq!(a, b, "{i}");
            let (a, b) = both(&(i, i.wrapping_add(1)));
            assert_eq!(a, b, "({i}, ..)");
            let (a, b) = both(&(u64::from(i) << 20));
            assert_eq!(a, b, "u64 {i}");
            let (a, b) = both(&(i as usize));
            assert_eq!(a, b, "usize {i}");
        }
        for s in ["", "a", "BENCH", "a node name of some length", "ünï"] {
            let (a, b) = both(s);
            assert_eq!(a, b, "{s:?}");
            let (a, b) = both(&s.to_string());
            assert_eq!(a, b, "String {s:?}");
            let (a, b) = both(&(s.to_string(), "range"));
            assert_eq!(a, b, "({s:?}, ..)");
        }
        let (a, b) = both(&vec![Tid::default(); 3]);
        assert_eq!(a, b, "a slice");
    }

    #[test]
    fn a_node_map_iterates_as_with_std_default_hasher() {
        use std::collections::HashMap;
        use std::hash::BuildHasherDefault;
        let mut std_map: HashMap<Tid, u32, BuildHasherDefault<DefaultHasher>> = HashMap::default();
        let mut ours: crate::node::Map<Tid, u32> = crate::node::Map::default();
        for i in 0..500u32 {
            let tid = Tid { node: 1, incarnation: 3, conn: i % 7, seq: u64::from(i) };
            std_map.insert(tid, i);
            ours.insert(tid, i);
        }
        let a: Vec<_> = std_map.iter().collect();
        let b: Vec<_> = ours.iter().collect();
        assert_eq!(a, b);
    }
}
