// libxml2 prints some errors itself, to stderr, without the file they are about ("encoding
// error : input conversion failed…"). quarry reports every failure on its own line naming the
// file, so libxml2's own printing is turned off (its handler is variadic: it takes C to set it).
#ifndef QUARRY_XML_ERRORS_H
#define QUARRY_XML_ERRORS_H

/// Silences libxml2's generic error printing on this thread and on threads started after.
void quarry_xml_silence_generic_errors(void);

#endif
