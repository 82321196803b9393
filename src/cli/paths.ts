// Where the package's own files are (the built-in organism, fixtures), independent of the working directory.
// No tensor axes.
// (defined in util/, which every layer may import; this module stays for the code that imports it from here)
export { PACKAGE_ROOT, ORGANISM_DIR } from '../util/package-root.ts';
