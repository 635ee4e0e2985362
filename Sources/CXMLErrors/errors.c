#include "CXMLErrors.h"
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/xmlerror.h>
#include <libxml/globals.h>

static void quarry_xml_ignore(void *context, const char *message, ...) {
    (void)context;
    (void)message;
}

void quarry_xml_silence_generic_errors(void) {
    xmlSetGenericErrorFunc(NULL, quarry_xml_ignore);
    xmlThrDefSetGenericErrorFunc(NULL, quarry_xml_ignore);
}
