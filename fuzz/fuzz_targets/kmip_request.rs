#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward::fuzz::kmip_request(data));
