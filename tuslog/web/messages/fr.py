"""Français. Keys and placeholders as in en.py."""

MESSAGES: dict[str, str] = {
    "language.name": "Français",
    "nav.skip": "Aller au contenu",
    "nav.language": "Langue",
    "upload.title": "Envoyer un fichier au support",
    "upload.lead": (
        "Envoyez un fichier, par exemple une archive de journaux, à notre équipe de support. "
        "L'envoi résiste aux coupures de connexion ; si cette page se ferme, rouvrez-la et "
        "choisissez le même fichier : l'envoi reprend là où il s'était arrêté."
    ),
    "upload.noscript": (
        "Cette page nécessite JavaScript. Sans JavaScript, utilisez l'un des outils en ligne "
        "de commande ci-dessous."
    ),
    "token.label": "Jeton d'envoi",
    "token.help": (
        "Le support vous a envoyé ce jeton ; il commence par tlu_. Il n'est envoyé qu'à ce serveur."
    ),
    "js.token.from_link": "{prefix}… (issu de votre lien)",
    "token.change": "Utiliser un autre jeton",
    "file.legend": "Fichier",
    "file.drop": "Glissez-déposez votre fichier ici",
    "file.or": "ou",
    "file.label": "Choisir un fichier",
    "file.help": (
        "Un seul fichier. Pour envoyer plusieurs fichiers ou un dossier, regroupez-les "
        "d'abord dans une archive (zip, tar.gz)."
    ),
    "start.button": "Lancer l'envoi",
    "cli.title": "Envoi depuis un serveur ?",
    "cli.text": (
        "Les outils en ligne de commande font de même depuis un shell, y compris pour de "
        "très gros fichiers :"
    ),
    "js.token.missing": "Saisissez le jeton d'envoi fourni par le support.",
    "js.token.format": (
        "Ceci ne ressemble pas à un jeton d'envoi. Il commence par tlu_ et compte environ "
        "56 caractères ; copiez-le à nouveau depuis le message du support."
    ),
    "js.file.missing": "Choisissez le fichier à envoyer.",
    "js.file.empty": (
        "Ce fichier est vide (0 octet). Choisissez l'archive qui contient les journaux."
    ),
    "js.file.many": (
        "Déposez un seul fichier. Pour en envoyer plusieurs, regroupez-les d'abord dans "
        "une archive."
    ),
    "js.file.selected": "{name} ({size})",
    "js.file.resume": (
        "Une partie de ce fichier a déjà été envoyée ({percent}) ; l'envoi reprend à partir de là."
    ),
    "js.file.pending": (
        "Un envoi depuis ce navigateur n'est pas terminé : {name} ({size}, {percent} "
        "envoyés). Choisissez le même fichier pour le reprendre."
    ),
    "js.continue.button": "Reprendre l'envoi",
    "js.pause.button": "Pause",
    "js.resume.button": "Reprendre",
    "js.retry_now.button": "Réessayer maintenant",
    "js.retry.button": "Réessayer",
    "js.restart.button": "Recommencer",
    "js.again.button": "Envoyer un autre fichier",
    "js.copy.button": "Copier le reçu",
    "js.copied": "Reçu copié.",
    "js.progress.label": "Progression de l'envoi",
    "js.progress.sent": "{sent} sur {total} ({percent})",
    "js.progress.rate": "{speed}, encore environ {time}",
    "js.announce.progress": "{percent} envoyés",
    "js.status.hashing": (
        "Calcul de l'empreinte SHA-256 du fichier, pour que le serveur puisse le vérifier…"
    ),
    "js.status.connecting": "Connexion au serveur…",
    "js.status.uploading": "Envoi de {name}…",
    "js.status.paused": (
        "En pause. Rien n'est perdu : appuyez sur Reprendre, ou revenez plus tard et "
        "choisissez le même fichier."
    ),
    "js.status.retrying": (
        "Connexion perdue. Nouvel essai dans {seconds} s (essai {attempt} sur {max})."
    ),
    "js.status.busy": (
        "Le serveur est occupé. Nouvel essai dans {seconds} s (essai {attempt} sur {max})."
    ),
    "js.status.offline": (
        "Votre appareil est hors ligne. L'envoi reprendra dès le retour de la connexion."
    ),
    "js.status.verifying": "Tous les octets sont arrivés. Le serveur vérifie le fichier…",
    "js.receipt.title": "Envoi terminé",
    "js.receipt.keep": "Conservez ce reçu ; le support pourra vous le demander.",
    "js.receipt.file": "Fichier",
    "js.receipt.size": "Taille",
    "js.receipt.sha256": "SHA-256",
    "js.receipt.ticket": "Ticket",
    "js.receipt.finished": "Terminé le",
    "js.receipt.check": "Vérification",
    "js.receipt.verified": (
        "Vérifié : le serveur a reçu exactement le fichier choisi (l'empreinte SHA-256 "
        "calculée dans votre navigateur correspond)."
    ),
    "js.receipt.unverified": (
        "Le serveur a calculé cette empreinte SHA-256. Pour la comparer à votre fichier : "
        "sha256sum FICHIER (Linux), shasum -a 256 FICHIER (macOS) ou "
        "certutil -hashfile FICHIER SHA256 (Windows)."
    ),
    "js.bytes": "{count} octets",
    "js.error.title": "L'envoi s'est arrêté",
    "js.error.token": (
        "Le jeton d'envoi n'a pas été accepté : il est inconnu, expiré, épuisé ou révoqué. "
        "Demandez un nouveau jeton au support."
    ),
    "js.error.owner": (
        "Cet envoi a été commencé avec un autre jeton d'envoi. Utilisez ce jeton-là, ou "
        "demandez-en un nouveau au support."
    ),
    "js.error.gone": (
        "L'envoi inachevé de ce fichier a expiré sur le serveur ou a été supprimé. "
        "Recommencez-le ; cela utilise le jeton une nouvelle fois."
    ),
    "js.error.too_large": (
        "Le fichier dépasse la taille permise par le serveur ou par votre jeton d'envoi. "
        "Contactez le support."
    ),
    "js.error.no_space": (
        "Le serveur n'a pas assez d'espace libre pour ce fichier en ce moment. Réessayez "
        "plus tard, ou contactez le support."
    ),
    "js.error.network": (
        "Le serveur est resté injoignable pendant plusieurs minutes. Rien n'est perdu : "
        "appuyez sur Réessayer, ou rouvrez cette page plus tard et choisissez le même "
        "fichier."
    ),
    "js.error.corrupt": (
        "L'empreinte SHA-256 du fichier reçu par le serveur ne correspond pas au fichier "
        "choisi. A-t-il changé pendant l'envoi ? Prévenez le support, et envoyez une copie "
        "dans laquelle plus rien n'est écrit."
    ),
    "js.error.unreadable": (
        "Le fichier n'a pas pu être lu. Il a peut-être été modifié, déplacé ou supprimé ; "
        "choisissez-le à nouveau."
    ),
    "js.error.server": (
        "Le serveur a répondu par une erreur inattendue ({status}). Réessayez ; si cela se "
        "reproduit, prévenez le support."
    ),
    "js.warn.storage": (
        "Votre navigateur ne permet pas à cette page de mémoriser l'envoi : après un "
        "rechargement, il recommencera depuis le début. Gardez cette page ouverte jusqu'à "
        "la fin de l'envoi."
    ),
}
