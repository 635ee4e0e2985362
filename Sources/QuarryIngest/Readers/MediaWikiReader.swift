import CLibXML2
import Foundation

/// What a wiki's `<siteinfo>` tells the wikitext converter: the local names of the File and
/// Category namespaces, whose links are dropped rather than kept as text.
public struct WikiSiteInfo: Sendable {
    public var droppedLinkPrefixes: Set<String>

    public static let english = WikiSiteInfo(droppedLinkPrefixes: ["file", "image", "category", "media"])
}

/// Streams `<page>` elements out of a MediaWiki XML export with libxml2's xmlTextReader: memory
/// stays flat whatever the dump's size, and the encoding comes from the document (UTF-8, or
/// UTF-16 with a byte-order mark). Keeps main-namespace articles that are not redirects.
public final class MediaWikiReader: RecordReader {
    private let input: ByteSource
    private let sourceName: String
    private var reader: xmlTextReaderPtr?
    private var ioError: Error?
    private var parseError: String?
    private var siteInfo = WikiSiteInfo.english
    public private(set) var skipped: [DropReason: Int] = [:]

    /// `transcoded`: the input is UTF-8 made from UTF-16 (`UTF16Source`), so the declaration's
    /// `encoding="UTF-16"` is ignored.
    public init(input: ByteSource, sourceName: String, transcoded: Bool = false) throws {
        LibXML.ensureReady()
        self.input = input
        self.sourceName = sourceName
        let context = Unmanaged.passUnretained(self).toOpaque()
        // No NOENT (entities are never substituted), no DTDLOAD/DTDATTR (no external subset), NONET.
        let options = LibXML.options([XML_PARSE_NONET, XML_PARSE_HUGE, XML_PARSE_NOERROR, XML_PARSE_NOWARNING, XML_PARSE_COMPACT]
                                     + (transcoded ? [XML_PARSE_IGNORE_ENC] : []))
        reader = xmlReaderForIO({ context, buffer, length in
            guard let context, let buffer else { return -1 }
            let me = Unmanaged<MediaWikiReader>.fromOpaque(context).takeUnretainedValue()
            do {
                return Int32(try me.input.read(into: buffer, count: Int(length)))
            } catch {
                me.ioError = error
                return -1
            }
        }, nil, context, nil, transcoded ? "UTF-8" : nil, options)
        guard let reader else { throw InputError("cannot start the XML reader") }
        xmlTextReaderSetStructuredErrorHandler(reader, { context, error in
            guard let context, let error else { return }
            let me = Unmanaged<MediaWikiReader>.fromOpaque(context).takeUnretainedValue()
            guard me.parseError == nil, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
            let message = error.pointee.message.map { String(cString: $0) } ?? "malformed XML"
            me.parseError = "malformed XML at line \(error.pointee.line): "
                + message.trimmingCharacters(in: .whitespacesAndNewlines)
        }, context)
    }

    deinit { if let reader { xmlFreeTextReader(reader) } }

    private struct Page {
        var title: String?
        var namespace: Int?
        var id: String?
        var isRedirect = false
        var text: [UInt8]?
    }

    public func next() throws -> RawRecord? {
        guard let reader else { return nil }
        var page: Page?
        while true {
            let status = xmlTextReaderRead(reader)
            if status == 0 {
                if page != nil { throw InputError("the XML ends inside a <page> (truncated dump?)") }
                return nil
            }
            if status < 0 { throw failure() }
            let type = xmlTextReaderNodeType(reader)
            let depth = xmlTextReaderDepth(reader)
            let name = xmlTextReaderConstLocalName(reader)
            if type == XML_READER_TYPE_ELEMENT.rawValue {
                switch depth {
                case 1:
                    if xmlNameEquals(name, "page") { page = Page() }
                    if xmlNameEquals(name, "siteinfo") { try readSiteInfo(reader) }
                case 2 where page != nil:
                    if xmlNameEquals(name, "title") {
                        page?.title = consumeXMLString(xmlTextReaderReadString(reader))
                    } else if xmlNameEquals(name, "ns") {
                        page?.namespace = consumeXMLString(xmlTextReaderReadString(reader)).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                    } else if xmlNameEquals(name, "id"), page?.id == nil {
                        page?.id = consumeXMLString(xmlTextReaderReadString(reader))
                    } else if xmlNameEquals(name, "redirect") {
                        page?.isRedirect = true
                    }
                case 3 where page != nil:
                    if xmlNameEquals(name, "text") {
                        page?.text = consumeXMLBytes(xmlTextReaderReadString(reader)) ?? []
                    }
                default:
                    break
                }
            } else if type == XML_READER_TYPE_END_ELEMENT.rawValue && depth == 1, let finished = page,
                      xmlNameEquals(name, "page") {
                page = nil
                // libxml2 closes open elements when it meets an error; a page ending after
                // one may be cut short, so it is not kept.
                if parseError != nil || ioError != nil { throw failure() }
                if let record = keep(finished) { return record }
            }
        }
    }

    /// Turns a finished page into a record, or counts why it is skipped.
    private func keep(_ page: Page) -> RawRecord? {
        if let ns = page.namespace, ns != 0 {
            skipped[.notMainNamespace, default: 0] += 1
            return nil
        }
        let text = page.text ?? []
        if page.isRedirect || Self.looksLikeRedirect(text) {
            skipped[.redirect, default: 0] += 1
            return nil
        }
        let id = page.id?.trimmingCharacters(in: .whitespaces)
        let source = sourceName + "#page=" + (id ?? page.title ?? "?")
        return RawRecord(source: source, id: nil, title: page.title, url: nil,
                         payload: .wikitext(text, siteInfo), byteCount: text.count)
    }

    /// Dumps without `<redirect/>` still mark redirects in the text.
    static func looksLikeRedirect(_ text: [UInt8]) -> Bool {
        text.count >= 9 && text.prefix(9).map(asciiLower).elementsEqual("#redirect".utf8)
    }

    /// Reads `<siteinfo>` for the local names of the File (6), Category (14) and Media (-2) namespaces.
    private func readSiteInfo(_ reader: xmlTextReaderPtr) throws {
        let startDepth = xmlTextReaderDepth(reader)
        while true {
            let status = xmlTextReaderRead(reader)
            if status == 0 { return }
            if status < 0 { throw failure() }
            let type = xmlTextReaderNodeType(reader)
            let name = xmlTextReaderConstLocalName(reader)
            if type == XML_READER_TYPE_END_ELEMENT.rawValue && xmlTextReaderDepth(reader) == startDepth { return }
            if type == XML_READER_TYPE_ELEMENT.rawValue && xmlNameEquals(name, "namespace") {
                let key = consumeXMLString(xmlTextReaderGetAttribute(reader, "key")).flatMap { Int($0) }
                if let key, [6, 14, -2].contains(key),
                   let local = consumeXMLString(xmlTextReaderReadString(reader)), !local.isEmpty {
                    siteInfo.droppedLinkPrefixes.insert(local.lowercased())
                }
            }
        }
    }

    private func failure() -> Error {
        if let ioError { return ioError }
        return InputError(parseError ?? "malformed XML")
    }
}
