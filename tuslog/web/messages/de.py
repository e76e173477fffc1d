"""Deutsch. Keys and placeholders as in en.py."""

MESSAGES: dict[str, str] = {
    "language.name": "Deutsch",
    "nav.skip": "Zum Inhalt springen",
    "nav.language": "Sprache",
    "upload.title": "Datei für den Support hochladen",
    "upload.lead": (
        "Senden Sie eine Datei, zum Beispiel ein Archiv mit Logdateien, an unser "
        "Support-Team. Der Upload übersteht Verbindungsabbrüche; wird diese Seite "
        "geschlossen, öffnen Sie sie erneut und wählen Sie dieselbe Datei: Der Upload "
        "geht dort weiter, wo er stehen geblieben ist."
    ),
    "upload.noscript": (
        "Diese Seite benötigt JavaScript. Ohne JavaScript verwenden Sie eines der "
        "Kommandozeilen-Programme unten."
    ),
    "token.label": "Upload-Token",
    "token.help": (
        "Diesen Token hat Ihnen der Support geschickt; er beginnt mit tlu_. Er wird nur an "
        "diesen Server gesendet."
    ),
    "js.token.from_link": "{prefix}… (aus Ihrem Link)",
    "token.change": "Anderen Token verwenden",
    "file.legend": "Datei",
    "file.drop": "Ziehen Sie Ihre Datei hierher",
    "file.or": "oder",
    "file.label": "Datei auswählen",
    "file.help": (
        "Eine Datei. Mehrere Dateien oder einen Ordner packen Sie bitte zuerst in ein "
        "Archiv (zip, tar.gz)."
    ),
    "start.button": "Upload starten",
    "cli.title": "Upload von einem Server?",
    "cli.text": (
        "Die Kommandozeilen-Programme leisten dasselbe in einer Shell, auch für sehr große Dateien:"
    ),
    "js.token.missing": "Geben Sie den Upload-Token vom Support ein.",
    "js.token.format": (
        "Das sieht nicht wie ein Upload-Token aus. Er beginnt mit tlu_ und ist etwa 56 "
        "Zeichen lang; kopieren Sie ihn noch einmal aus der Nachricht des Supports."
    ),
    "js.file.missing": "Wählen Sie die Datei, die hochgeladen werden soll.",
    "js.file.empty": (
        "Diese Datei ist leer (0 Bytes). Wählen Sie das Archiv, das die Logs enthält."
    ),
    "js.file.many": (
        "Bitte nur eine Datei ablegen. Mehrere Dateien packen Sie zuerst in ein Archiv."
    ),
    "js.file.selected": "{name} ({size})",
    "js.file.resume": (
        "Ein Teil dieser Datei wurde schon hochgeladen ({percent}); es geht dort weiter."
    ),
    "js.file.pending": (
        "Ein Upload aus diesem Browser ist nicht fertig: {name} ({size}, {percent} "
        "gesendet). Wählen Sie dieselbe Datei, um ihn fortzusetzen."
    ),
    "js.continue.button": "Upload fortsetzen",
    "js.pause.button": "Pausieren",
    "js.resume.button": "Fortsetzen",
    "js.retry_now.button": "Jetzt erneut versuchen",
    "js.retry.button": "Erneut versuchen",
    "js.restart.button": "Neu starten",
    "js.again.button": "Weitere Datei hochladen",
    "js.copy.button": "Beleg kopieren",
    "js.copied": "Beleg kopiert.",
    "js.progress.label": "Upload-Fortschritt",
    "js.progress.sent": "{sent} von {total} ({percent})",
    "js.progress.rate": "{speed}, noch etwa {time}",
    "js.announce.progress": "{percent} hochgeladen",
    "js.status.hashing": "Die SHA-256-Prüfsumme der Datei wird berechnet, damit der Server sie "
    "prüfen kann…",
    "js.status.connecting": "Verbindung zum Server wird aufgebaut…",
    "js.status.uploading": "{name} wird hochgeladen…",
    "js.status.paused": (
        "Pausiert. Nichts geht verloren: Drücken Sie Fortsetzen, oder kommen Sie später "
        "wieder und wählen Sie dieselbe Datei."
    ),
    "js.status.retrying": (
        "Verbindung unterbrochen. Neuer Versuch in {seconds} s (Versuch {attempt} von {max})."
    ),
    "js.status.busy": (
        "Der Server ist ausgelastet. Neuer Versuch in {seconds} s (Versuch {attempt} von {max})."
    ),
    "js.status.offline": (
        "Ihr Gerät ist offline. Der Upload geht weiter, sobald es wieder online ist."
    ),
    "js.status.verifying": "Alle Bytes sind angekommen. Der Server prüft die Datei…",
    "js.receipt.title": "Upload abgeschlossen",
    "js.receipt.keep": "Bewahren Sie diesen Beleg auf; der Support fragt eventuell danach.",
    "js.receipt.file": "Datei",
    "js.receipt.size": "Größe",
    "js.receipt.sha256": "SHA-256",
    "js.receipt.ticket": "Ticket",
    "js.receipt.finished": "Fertig",
    "js.receipt.check": "Prüfung",
    "js.receipt.verified": (
        "Geprüft: Der Server hat genau die gewählte Datei erhalten (die im Browser "
        "berechnete SHA-256-Prüfsumme stimmt überein)."
    ),
    "js.receipt.unverified": (
        "Der Server hat diese SHA-256-Prüfsumme berechnet. Zum Vergleich mit Ihrer Datei: "
        "sha256sum DATEI (Linux), shasum -a 256 DATEI (macOS) oder "
        "certutil -hashfile DATEI SHA256 (Windows)."
    ),
    "js.bytes": "{count} Bytes",
    "js.error.title": "Der Upload wurde angehalten",
    "js.error.token": (
        "Der Upload-Token wurde nicht angenommen: Er ist unbekannt, abgelaufen, aufgebraucht "
        "oder widerrufen. Bitten Sie den Support um einen neuen Token."
    ),
    "js.error.owner": (
        "Dieser Upload wurde mit einem anderen Upload-Token begonnen. Verwenden Sie jenen "
        "Token, oder bitten Sie den Support um einen neuen."
    ),
    "js.error.gone": (
        "Der unfertige Upload dieser Datei ist auf dem Server abgelaufen oder wurde "
        "entfernt. Starten Sie ihn neu; dabei wird der Token noch einmal verwendet."
    ),
    "js.error.too_large": (
        "Die Datei ist größer, als der Server oder Ihr Upload-Token erlaubt. Wenden Sie sich "
        "an den Support."
    ),
    "js.error.no_space": (
        "Der Server hat gerade nicht genug freien Speicher für diese Datei. Versuchen Sie "
        "es später erneut, oder wenden Sie sich an den Support."
    ),
    "js.error.network": (
        "Der Server war mehrere Minuten lang nicht erreichbar. Nichts geht verloren: "
        "Drücken Sie Erneut versuchen, oder öffnen Sie diese Seite später und wählen Sie "
        "dieselbe Datei."
    ),
    "js.error.corrupt": (
        "Die SHA-256-Prüfsumme der Datei auf dem Server stimmt nicht mit der gewählten Datei "
        "überein. Hat sie sich während des Uploads geändert? Informieren Sie den Support, "
        "und laden Sie eine Kopie hoch, in die nicht mehr geschrieben wird."
    ),
    "js.error.unreadable": (
        "Die Datei konnte nicht gelesen werden. Vielleicht wurde sie geändert, verschoben "
        "oder gelöscht; wählen Sie sie erneut."
    ),
    "js.error.server": (
        "Der Server hat mit einem unerwarteten Fehler geantwortet ({status}). Versuchen Sie "
        "es erneut; passiert es wieder, informieren Sie den Support."
    ),
    "js.warn.storage": (
        "Ihr Browser erlaubt dieser Seite nicht, sich den Upload zu merken; nach einem "
        "Neuladen beginnt er von vorn. Lassen Sie diese Seite geöffnet, bis der Upload "
        "fertig ist."
    ),
}
