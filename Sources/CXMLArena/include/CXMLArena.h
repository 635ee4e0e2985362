// A per-thread bump allocator for libxml2. Building an HTML page's DOM allocates tens of
// thousands of small nodes and strings that all die together when the document is freed;
// taking them from a thread-local arena and dropping the arena at once costs a fraction of
// malloc/free per node. Outside an arena scope every allocation goes to the C heap, so
// long-lived libxml2 objects (a streaming XML reader, global state) are unaffected.
#ifndef QUARRY_XML_ARENA_H
#define QUARRY_XML_ARENA_H

#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/tree.h>

/// Routes libxml2's allocator through this module. Call once, before any other libxml2 call.
/// Returns 0 on success.
int quarry_xml_arena_install(void);

/// From now until `quarry_xml_arena_end` on this thread, libxml2's small allocations come from
/// the thread's arena. Everything libxml2 allocates in the scope must be freed (or dead) before
/// the scope ends; libxml2's per-thread last error is cleared at the end for that reason.
void quarry_xml_arena_begin(void);
void quarry_xml_arena_end(void);

/// Releases a document parsed inside an arena scope without walking it: its nodes go when the
/// scope ends. Outside a scope it is xmlFreeDoc.
void quarry_xml_arena_drop_document(xmlDocPtr document);

/// Frees a string or buffer libxml2 returned (xmlNodeGetContent, xmlTextReaderValue, ...):
/// it must go back through libxml2's allocator, never plain free().
void quarry_xml_free(void *pointer);

#endif
