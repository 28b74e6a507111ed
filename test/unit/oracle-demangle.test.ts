// Demangling of the Rust and C++ symbols that kernel stack traces print mangled.
import t from 'tap';
import { demangle } from '../../harness/src/oracle/demangle.js';

t.test('Rust v0 paths', async (t) => {
  t.equal(demangle('_RNvCsaEXkrVaTAwn_11rust_census12census_count'), 'rust_census::census_count');
  t.equal(demangle('_RNvNtCsbDqzXfLQacH_4core9panicking9panic_fmt'), 'core::panicking::panic_fmt');
  t.equal(demangle('_RNvNtNtCsbDqzXfLQacH_4core9panicking11panic_const24panic_const_add_overflow'), 'core::panicking::panic_const::panic_const_add_overflow');
  t.equal(demangle('_RNvCs1_4core4__foo'), 'core::_foo', 'a "_" separates a length from an identifier starting with "_"');
  t.equal(demangle('_RNCNvCs1_3foo3bar0B3_'), 'foo::bar::{closure#0}', 'a closure and its index; the instantiating crate is not printed');
  t.equal(demangle('_RNCNvCs1_3foo3bars_0B3_'), 'foo::bar::{closure#1}', 'the second closure');
  t.equal(demangle('_RNvNtCs1_4core9panicking9panic_fmt.llvm.8157'), 'core::panicking::panic_fmt', 'an LLVM suffix goes');
  t.equal(demangle('_RNvCs5_7___rustc17rust_begin_unwind'), '__rustc::rust_begin_unwind', 'an identifier starting with "_"');
});

t.test('Rust v0 impls, generic arguments, types and back references', async (t) => {
  // A kernel module's init is a trait method: <Module type as kernel::Module>::init, the type a back reference to the crate.
  t.equal(demangle('_RNvXCsl4YnsU7D6cr_5rnullNtB2_13NullBlkModuleNtCsjoFG2nLXHTP_6kernel6Module4init'), '<rnull::NullBlkModule as kernel::Module>::init');
  t.equal(demangle('_RNvMs_NtCsbDqzXfLQacH_6kernel4syncNtB4_3Arc4drop'), '<kernel::sync::Arc>::drop', 'an inherent impl');
  t.equal(demangle('_RNvYNtCs1_3foo3BarNtCs2_4core5Clone5clone'), '<foo::Bar as core::Clone>::clone', 'a trait definition path');
  t.equal(demangle('_RINvNtCs1_4core3ptr13drop_in_placeNtNtCs2_6kernel4sync3ArcEB4_'), 'core::ptr::drop_in_place::<kernel::sync::Arc>', 'generic arguments of a function');
  t.equal(
    demangle('_RNvXs0_NtCs1_6kernel5allocINtB5_3BoxRShEINtNtCs2_4core7convert4FromTjmEE4from'),
    '<kernel::alloc::Box<&[u8]> as core::convert::From<(usize, u32)>>::from',
    'references, slices, tuples and basic types',
  );
  t.equal(demangle('_RNvXCs1_3fooFUKCjEuNtCs2_4core5Debug3fmt'), '<unsafe extern "C" fn(usize) as core::Debug>::fmt', 'a function pointer type');
  t.equal(demangle('_RNvXCs1_3fooAhj8_NtCs2_4core5Debug3fmt'), '<[u8; 8] as core::Debug>::fmt', 'an array and its length');
});

t.test('Itanium (C++ and legacy Rust) nested names', async (t) => {
  t.equal(demangle('_ZN4core9panicking9panic_fmt17h2f8ad83e1e6ee245E'), 'core::panicking::panic_fmt', 'the crate hash goes');
  t.equal(demangle('_ZN3foo3barEv'), 'foo::bar', 'parameters go');
  t.equal(demangle('_ZNK3Foo3getEv'), 'Foo::get', 'a const member function');
  t.equal(
    demangle('_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h6a2a6a2b9e4cb0a3E'),
    'core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>',
    'legacy Rust escapes',
  );
  t.equal(demangle('_Z3fooi'), 'foo');
  t.equal(demangle('_ZN3FooC2Ev'), 'Foo::Foo', 'a constructor');
  t.equal(demangle('_ZN3FooD1Ev'), 'Foo::~Foo', 'a destructor');
  t.equal(demangle('_ZN12_GLOBAL__N_14workEv'), '(anonymous namespace)::work');
  t.equal(demangle('_ZN3foo3barEv.cold'), 'foo::bar', 'a compiler suffix goes');
});

t.test('C++ templates, std:: and substitutions', async (t) => {
  t.equal(demangle('_ZNSt6vectorIiSaIiEE9push_backERKi'), 'std::vector<int, std::allocator<int> >::push_back');
  t.equal(demangle('_ZNKSt6vectorIiSaIiEE4sizeEv'), 'std::vector<int, std::allocator<int> >::size', 'a const member of a template');
  t.equal(
    demangle('_ZNSt3__112basic_stringIcNS_11char_traitsIcEENS_9allocatorIcEEE6appendEPKc'),
    'std::__1::basic_string<char, std::__1::char_traits<char>, std::__1::allocator<char> >::append',
    'S_ names the first prefix after std::',
  );
  t.equal(demangle('_ZN5mylib4ListIN3foo3BarEE6appendEPS2_'), 'mylib::List<foo::Bar>::append', 'a class template argument');
  t.equal(demangle('_Z3fooIiEvT_'), 'foo<int>', 'a function template: arguments kept, return type and parameters left out');
  t.equal(demangle('_ZN3fooILi3ELb1EE3getEv'), 'foo<3, true>::get', 'literal arguments');
  t.equal(demangle('_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_'), 'std::endl<char, std::char_traits<char> >', 'an unscoped std:: template');
});

t.test('names it does not decode stay as they are', async (t) => {
  for (const s of ['dax_fault_iter', '__x64_sys_read', '_RNvMs_NtCsbDqzXfLQacH_6kernel4syncNtB4_4Arc4drop', '_RNvCs1_3foo3', '_RNvCs1_3fooB9_', '_RBB', '_RNvCu5_abcde3foo', '_ZN3foo', '_ZN99fooE', '_R', '_Z'])
    t.equal(demangle(s), s, s);
});
