"""A view that sends mail the way a Django app does: EmailMultiAlternatives, inline logo."""

from email.mime.image import MIMEImage

from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, JsonResponse

# A 1x1 transparent PNG.
LOGO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def signup(request: HttpRequest) -> JsonResponse:
    """Send a welcome message to the address in the POST body; answer with its Message-ID."""
    address = request.POST["email"]
    message = EmailMultiAlternatives(
        subject="Welcome",
        body="Welcome aboard!",
        to=[address],
        reply_to=["support@example.com"],
        headers={"X-Campaign": "signup"},
    )
    message.attach_alternative('<p>Welcome aboard!</p><img src="cid:logo">', "text/html")
    logo = MIMEImage(LOGO, "png")
    logo.add_header("Content-ID", "<logo>")
    logo.add_header("Content-Disposition", "inline", filename="logo.png")
    message.attachments.append(logo)  # not attach(): Django 6 deprecates MIMEBase there
    sent = message.send()
    return JsonResponse({"sent": sent, "message_id": message.mailsdk_result.message_id})
