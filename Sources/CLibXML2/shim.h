// libxml2 for Swift. Debian's headers pull in ICU when LIBXML_ICU_ENABLED is set, which clashes
// with Foundation's own ICU ("'UErrorCode' has different definitions"), so switch it off first.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
