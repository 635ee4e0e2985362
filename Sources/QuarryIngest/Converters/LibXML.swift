import CLibXML2
import CXMLArena
import CXMLErrors
import Foundation

/// One-time libxml2 setup, done before any thread parses: initialise the library and install an
/// external-entity loader that refuses everything, so no document can make quarry open a file
/// or a URL (XXE), whatever parser options a caller passes.
enum LibXML {
    static let ready: Void = {
        // Before anything else libxml2 does: every block it allocates from now on has a header
        // the arena's free() reads.
        _ = quarry_xml_arena_install()
        xmlInitParser()
        quarry_xml_silence_generic_errors()
        xmlSetExternalEntityLoader { _, _, _ in nil }
    }()

    static func ensureReady() { _ = ready }

    /// Parser options as libxml2's enums import them (structs): combine the raw values.
    static func options(_ list: [xmlParserOption]) -> Int32 {
        Int32(list.reduce(0) { $0 | $1.rawValue })
    }

    static func htmlOptions(_ list: [htmlParserOption]) -> Int32 {
        Int32(list.reduce(0) { $0 | $1.rawValue })
    }
}

/// Compares a NUL-terminated libxml2 name with an ASCII literal.
@inline(__always)
func xmlNameEquals(_ name: UnsafePointer<xmlChar>?, _ literal: StaticString) -> Bool {
    guard let name else { return false }
    return literal.withUTF8Buffer { lit in
        for i in 0..<lit.count where name[i] != lit[i] { return false }
        return name[lit.count] == 0
    }
}

/// Takes ownership of a string libxml2 allocated and frees it (through libxml2's allocator:
/// quarry installs its own, so plain free() would be wrong).
func consumeXMLString(_ pointer: UnsafeMutablePointer<xmlChar>?) -> String? {
    guard let pointer else { return nil }
    defer { quarry_xml_free(pointer) }
    return String(cString: pointer)
}

/// Takes ownership of a string libxml2 allocated: its UTF-8 bytes, not validated into a String.
func consumeXMLBytes(_ pointer: UnsafeMutablePointer<xmlChar>?) -> [UInt8]? {
    guard let pointer else { return nil }
    defer { quarry_xml_free(pointer) }
    return Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer)))
}

/// Runs `body` with libxml2 allocating from this thread's arena (see CXMLArena): everything
/// libxml2 allocates inside must be freed before `body` returns.
func withXMLArena<T>(_ body: () throws -> T) rethrows -> T {
    quarry_xml_arena_begin()
    defer { quarry_xml_arena_end() }
    return try body()
}
