#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kv_jit_fuzz::harness::ledger(data));
