//! Fuzzes the 9P2000.L decoders: any byte string must decode or fail
//! cleanly (never panic), and whatever decodes must re-encode to the same
//! bytes. Run from gofer/p9/fuzz (see README.md there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((tag, Ok(m))) = p9::decode_t(data) {
        let mut out = Vec::new();
        m.encode_to_vec(tag, &mut out).expect("a decoded T message re-encodes");
        assert_eq!(out, data);
    }
    if let Ok((tag, Ok(m))) = p9::decode_r(data) {
        let mut out = Vec::new();
        m.encode_to_vec(tag, &mut out).expect("a decoded R message re-encodes");
        assert_eq!(out, data);
        if let p9::Rmessage::Readdir(r) = m {
            p9::DirentIter::new(r.data).for_each(drop);
        }
    }
    p9::DirentIter::new(data).for_each(drop);
});
