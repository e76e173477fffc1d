"""Español. Keys and placeholders as in en.py."""

MESSAGES: dict[str, str] = {
    "language.name": "Español",
    "nav.skip": "Ir al contenido",
    "nav.language": "Idioma",
    "upload.title": "Subir un archivo para soporte",
    "upload.lead": (
        "Envíe un archivo, por ejemplo un archivo comprimido con registros, a nuestro equipo "
        "de soporte. La subida sobrevive a los cortes de conexión; si esta página se cierra, "
        "vuelva a abrirla y elija el mismo archivo: la subida continúa donde se quedó."
    ),
    "upload.noscript": (
        "Esta página necesita JavaScript. Sin él, use uno de los programas de línea de "
        "comandos de abajo."
    ),
    "token.label": "Token de subida",
    "token.help": ("Soporte le envió este token; empieza por tlu_. Solo se envía a este servidor."),
    "js.token.from_link": "{prefix}… (de su enlace)",
    "token.change": "Usar otro token",
    "file.legend": "Archivo",
    "file.drop": "Arrastre y suelte su archivo aquí",
    "file.or": "o",
    "file.label": "Elegir un archivo",
    "file.help": (
        "Un solo archivo. Para enviar varios archivos o una carpeta, empaquételos antes en "
        "un archivo comprimido (zip, tar.gz)."
    ),
    "start.button": "Iniciar subida",
    "cli.title": "¿Sube desde un servidor?",
    "cli.text": (
        "Los programas de línea de comandos hacen lo mismo desde una shell, también con "
        "archivos muy grandes:"
    ),
    "js.token.missing": "Introduzca el token de subida que le dio soporte.",
    "js.token.format": (
        "Esto no parece un token de subida. Empieza por tlu_ y tiene unos 56 caracteres; "
        "cópielo de nuevo del mensaje de soporte."
    ),
    "js.file.missing": "Elija el archivo que quiere subir.",
    "js.file.empty": (
        "Este archivo está vacío (0 bytes). Elija el archivo comprimido con los registros."
    ),
    "js.file.many": (
        "Suelte un solo archivo. Para enviar varios, empaquételos antes en un archivo comprimido."
    ),
    "js.file.selected": "{name} ({size})",
    "js.file.resume": (
        "Parte de este archivo ya se subió ({percent}); la subida continúa desde ahí."
    ),
    "js.file.pending": (
        "Hay una subida de este navegador sin terminar: {name} ({size}, {percent} "
        "enviado). Elija el mismo archivo para continuarla."
    ),
    "js.continue.button": "Continuar la subida",
    "js.pause.button": "Pausar",
    "js.resume.button": "Reanudar",
    "js.retry_now.button": "Reintentar ahora",
    "js.retry.button": "Reintentar",
    "js.restart.button": "Empezar de nuevo",
    "js.again.button": "Subir otro archivo",
    "js.copy.button": "Copiar el comprobante",
    "js.copied": "Comprobante copiado.",
    "js.progress.label": "Progreso de la subida",
    "js.progress.sent": "{sent} de {total} ({percent})",
    "js.progress.rate": "{speed}, quedan unos {time}",
    "js.announce.progress": "{percent} subido",
    "js.status.hashing": (
        "Calculando el SHA-256 del archivo para que el servidor pueda comprobarlo…"
    ),
    "js.status.connecting": "Conectando con el servidor…",
    "js.status.uploading": "Subiendo {name}…",
    "js.status.paused": (
        "En pausa. No se pierde nada: pulse Reanudar, o vuelva más tarde y elija el mismo archivo."
    ),
    "js.status.retrying": (
        "Conexión perdida. Nuevo intento en {seconds} s (intento {attempt} de {max})."
    ),
    "js.status.busy": (
        "El servidor está ocupado. Nuevo intento en {seconds} s (intento {attempt} de {max})."
    ),
    "js.status.offline": (
        "Su dispositivo no tiene conexión. La subida continuará cuando vuelva a tenerla."
    ),
    "js.status.verifying": "Han llegado todos los bytes. El servidor está comprobando el archivo…",
    "js.receipt.title": "Subida completada",
    "js.receipt.keep": "Guarde este comprobante; soporte podría pedírselo.",
    "js.receipt.file": "Archivo",
    "js.receipt.size": "Tamaño",
    "js.receipt.sha256": "SHA-256",
    "js.receipt.ticket": "Ticket",
    "js.receipt.finished": "Terminado",
    "js.receipt.check": "Comprobación",
    "js.receipt.verified": (
        "Verificado: el servidor recibió exactamente el archivo elegido (el SHA-256 calculado "
        "en su navegador coincide)."
    ),
    "js.receipt.unverified": (
        "El servidor calculó este SHA-256. Para compararlo con su archivo: "
        "sha256sum ARCHIVO (Linux), shasum -a 256 ARCHIVO (macOS) o "
        "certutil -hashfile ARCHIVO SHA256 (Windows)."
    ),
    "js.bytes": "{count} bytes",
    "js.error.title": "La subida se detuvo",
    "js.error.token": (
        "El token de subida no fue aceptado: es desconocido, ha caducado, se ha agotado o "
        "fue revocado. Pida un token nuevo a soporte."
    ),
    "js.error.owner": (
        "Esta subida se empezó con otro token de subida. Use ese token, o pida uno nuevo a soporte."
    ),
    "js.error.gone": (
        "La subida sin terminar de este archivo caducó en el servidor o fue eliminada. "
        "Empiécela de nuevo; esto usa el token otra vez."
    ),
    "js.error.too_large": (
        "El archivo es más grande de lo que permiten el servidor o su token de subida. "
        "Consulte a soporte."
    ),
    "js.error.no_space": (
        "El servidor no tiene ahora espacio libre suficiente para este archivo. Inténtelo "
        "más tarde, o consulte a soporte."
    ),
    "js.error.network": (
        "No se pudo contactar con el servidor durante varios minutos. No se pierde nada: "
        "pulse Reintentar, o abra esta página más tarde y elija el mismo archivo."
    ),
    "js.error.corrupt": (
        "El SHA-256 del archivo recibido por el servidor no coincide con el archivo elegido. "
        "¿Cambió durante la subida? Avise a soporte y suba una copia en la que ya no se "
        "escriba."
    ),
    "js.error.unreadable": (
        "No se pudo leer el archivo. Quizá se modificó, se movió o se eliminó; elíjalo de nuevo."
    ),
    "js.error.server": (
        "El servidor respondió con un error inesperado ({status}). Inténtelo de nuevo; si "
        "vuelve a ocurrir, avise a soporte."
    ),
    "js.warn.storage": (
        "Su navegador no permite que esta página recuerde la subida: tras recargar, "
        "empezaría desde el principio. Mantenga esta página abierta hasta que termine."
    ),
}
