import CLibXML2
import Foundation
import CXMLArena
import QuarryCore

// MARK: - Small helpers over libxml2 nodes

/// An element's name (the HTML parser already lowercases it) as a 64-bit FNV-1a hash of its
/// bytes: the extractor asks "is this a `p`?" and "is it one of these tags?" several times per
/// node in every pass, and comparing one integer costs far less than making a Swift string and
/// hashing it for a `Set` each time.
struct TagName: Equatable {
    let code: UInt64
    private let bytes: UnsafePointer<xmlChar>?

    init(_ node: xmlNodePtr) {
        bytes = node.pointee.name
        code = bytes.map { Self.code(of: UnsafeBufferPointer(start: $0, count: strlen($0))) } ?? Self.code(of: EmptyCollection())
    }

    /// The name as a string (for the few places that keep it).
    var name: String { bytes.map { String(cString: $0) } ?? "" }

    static func code(of name: String) -> UInt64 { code(of: name.utf8) }

    static func code<Bytes: Sequence>(of bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        FNV1a.hash(bytes)
    }

    static func == (lhs: TagName, rhs: TagName) -> Bool { lhs.code == rhs.code }
    static func == (lhs: TagName, rhs: StaticString) -> Bool { xmlNameEquals(lhs.bytes, rhs) }
    static func != (lhs: TagName, rhs: StaticString) -> Bool { !xmlNameEquals(lhs.bytes, rhs) }
}

/// A fixed set of element names, matched by `TagName.code` (a handful of integers to scan).
struct TagSet: ExpressibleByArrayLiteral {
    let codes: [UInt64]
    init(arrayLiteral names: String...) { codes = names.map(TagName.code(of:)) }
    func contains(_ tag: TagName) -> Bool { codes.contains(tag.code) }
    func contains(_ name: String) -> Bool { codes.contains(TagName.code(of: name)) }
}

/// An attribute's value without allocating through libxml2.
func attribute(_ node: xmlNodePtr, _ name: StaticString) -> String? {
    var attr = node.pointee.properties
    while let a = attr {
        if xmlNameEquals(a.pointee.name, name) {
            guard let text = a.pointee.children, let content = text.pointee.content else { return "" }
            return String(cString: content)
        }
        attr = a.pointee.next
    }
    return nil
}

/// Visible text of an element with whitespace collapsed (for titles).
func normalisedText(_ node: xmlNodePtr) -> String? {
    guard let raw = xmlNodeGetContent(node) else { return nil }
    defer { quarry_xml_free(raw) }
    let text = String(cString: raw).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    return text.isEmpty ? nil : text
}
