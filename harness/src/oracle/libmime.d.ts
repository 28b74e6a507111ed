// libmime (mailparser's own header decoder) ships no types: the one call we make.
declare module 'libmime' {
  const libmime: { decodeWords(value: string): string };
  export default libmime;
}
