// Demangling of the Rust and C++ symbols that kernel stack traces print mangled.
import t from 'tap';
import { demangle } from '../../harness/src/oracle/demangle.js';

t.test('Rust v0 paths', async (t) => {
  t.equal(demangle('_RNvCsaEXkrVaTAwn_11rust_census12census_count'), 'rust_census::census_count');
  t.equal(demangle('_RNvNtCsbDqzXfLQacH_4core9panicking9panic_fmt'), 'core::panicking::panic_fmt');
  t.equal(demangle('_RNvNtNtCsbDqzXfLQacH_4core9panicking11panic_const24panic_const_add_overflow'), 'core::panicking::panic_const::panic_const_add_overflow');
  t.equal(demangle('_RNvCs1_4core4__foo'), 'core::_foo', 'a "_" separates a length from an identifier starting with "_"');
  t.equal(demangle('_RNCNvCs1_3foo3bar0B3_'), 'foo::bar::{closure}');
});

t.test('Itanium (C++ and legacy Rust) nested names', async (t) => {
  t.equal(demangle('_ZN4core9panicking9panic_fmt17h2f8ad83e1e6ee245E'), 'core::panicking::panic_fmt', 'the crate hash goes');
  t.equal(demangle('_ZN3foo3barEv'), 'foo::bar', 'parameters go');
  t.equal(demangle('_ZNK3Foo3getEv'), 'Foo::get', 'a const member function');
  t.equal(demangle('_Z3fooi'), 'foo');
});

t.test('names it does not decode stay as they are', async (t) => {
  for (const s of ['dax_fault_iter', '__x64_sys_read', '_RNvMs_NtCsbDqzXfLQacH_6kernel4syncNtB4_4Arc4drop', '_ZN3foo', '_ZN99fooE', '_R', '_Z'])
    t.equal(demangle(s), s, s);
});
