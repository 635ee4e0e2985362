import QuarryCore

/// The extractor's tuning in one place: the lengths its rules compare against and the words that
/// name boilerplate, as datatrove keeps a filter's parameters together. Changing one changes what
/// every page keeps: measure on both annotated sets (BENCHMARKS.md, extraction) before and after.
enum HTMLHeuristics {
    // MARK: - Lengths (characters)

    /// A sentence's length: prose blocks and widgets are judged against it.
    static let sentenceLength = 40

    /// A paragraph shorter than this that is a label and a link ("Read more: <a>…</a>") points
    /// elsewhere, and is dropped.
    static let teaserLinkParagraph = 120

    /// A linked headline is a few words at least; a shorter link after a label is a name ("Photo: <a>…</a>").
    static let headlineLength = 20

    /// A line shorter than this that ends no sentence, beside a block of links, is its caption.
    static let captionLength = 45

    /// In comment sections, lines outside paragraphs shorter than this are furniture (names,
    /// dates, "Reply") and are dropped.
    static let commentLineLength = 80

    /// A paragraph shorter than this that is over 80% link text is navigation.
    static let shortLinkParagraph = 30

    // MARK: - Words (class, id and role values; whole interface lines)

    /// Words in a class or id that mark boilerplate containers.
    static let boilerplateWords: NameSet = [
        "comment", "comments", "commentlist", "share", "sharing", "social", "related", "sidebar", "widget", "widgets",
        "footer", "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "cookie", "cookies", "banner",
        "advert", "advertisement", "ads", "ad", "promo", "newsletter", "subscribe", "subscription", "popup", "modal",
        "pagination", "pager", "tags", "tagcloud", "login", "signup", "disqus", "recommended", "recommendations",
        "outbrain", "taboola", "sponsored", "toolbar", "masthead", "copyright", "byline", "author",
        "postmeta", "metadata", "rating", "relatedposts", "teaser", "overlay", "consent", "gdpr",
        "header",
    ]

    /// Class tokens that mark boilerplate only as a whole ("hidden", not "label-hidden").
    static let boilerplateTokens: NameSet = [
        "hidden", "sr-only", "screen-reader-text", "visually-hidden", "visuallyhidden", "more", "print", "meta", "skip",
        "invisible", "d-none", "hide",
    ]

    static let commentFurnitureWords: NameSet = [
        "author", "meta", "metadata", "reply", "respond", "avatar", "vcard", "date", "time", "permalink", "share",
        "social", "navigation", "nav", "pagination", "form", "moderation", "awaiting", "says", "edit", "login",
        "like", "likes", "rating", "vote", "votes", "actions", "footer", "header", "hidden", "title", "count",
    ]

    static let commentSectionWords: NameSet = ["disqus", "respond"]

    static let contentClassMarkers = [
        "article-body", "articlebody", "article__body", "article-content", "articlecontent", "post-body", "postbody",
        "post-content", "postcontent", "entry-content", "entrycontent", "story-body", "storybody", "main-content",
        "maincontent", "content-body", "post-entry", "article-text", "articletext", "body-text", "story-content",
        "blog-post", "single-post", "post_content", "entry_content", "article_body", "news-text", "text-content",
    ]

    /// Whole lines that are interface text, not content.
    static let boilerplateLines: Set<String> = [
        "share", "tweet", "print", "email", "advertisement", "read more", "comments", "reply",
        "leave a comment", "share this", "like this", "related", "related posts", "related articles",
        "skip to content", "skip to main content", "back to top", "menu", "search", "log in", "sign up",
        "anzeige", "werbung", "publicité", "advertisment", "sponsored", "ad", "teilen", "drucken", "weiterlesen",
        "mehr lesen", "lire la suite", "partager", "show comments", "load more", "see also",
        "you might also like", "more from", "most popular", "most read", "trending", "newsletter", "subscribe",
        "follow us", "share on facebook", "share on twitter", "comment", "permalink", "top",
        "ähnliche artikel", "das könnte sie auch interessieren",
        "weitere artikel", "verwandte artikel", "kommentare", "kommentar schreiben", "antworten",
    ]
}
