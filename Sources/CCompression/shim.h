// bzip2 and zlib streaming decompressors, as Debian ships them (libbz2-dev, zlib1g-dev).
#include <bzlib.h>
#include <zlib.h>
