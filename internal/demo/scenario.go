package demo

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

// The scenario's names. Credentials are the simulators' and worthless elsewhere.
const (
	ExchangeAccount  = "svc-respa"
	exchangePassword = "demo-password"
	respaStaffToken  = "demo-respa-staff-token"
	respaUserToken   = "demo-respa-user-token"
	// RespaUser is the plain Respa user the demo's commands book as.
	RespaUser = "citizen"
	domain    = "demo.example"
)

// Room is one room of the scenario, in both systems.
type Room struct {
	Name       string // the ExchangeResource's name
	Email      string // the room mailbox
	ResourceID string // the Respa resource
	Title      string
}

// Rooms are the scenario's rooms.
var Rooms = []Room{
	{Name: "aurora", Email: "aurora@" + domain, ResourceID: "aurora", Title: "Aurora meeting room"},
	{Name: "boreal", Email: "boreal@" + domain, ResourceID: "boreal", Title: "Boreal meeting room"},
}

// RoomByName finds a room of the scenario.
func RoomByName(name string) (Room, bool) {
	for _, r := range Rooms {
		if r.Name == name || r.Email == name || r.ResourceID == name {
			return r, true
		}
	}
	return Room{}, false
}

// Zone is the demo rooms' time zone.
var Zone = mustZone("Europe/Helsinki")

func mustZone(name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("EET", 2*3600)
	}
	return z
}

// tomorrowAt is the given local time of day, days from today, in the rooms' zone.
func tomorrowAt(days, hour, minute int) time.Time {
	now := time.Now().In(Zone)
	return time.Date(now.Year(), now.Month(), now.Day()+days, hour, minute, 0, 0, Zone)
}

// seed fills both simulators and creates the Kubernetes objects.
func (e *Env) seed(ctx context.Context) error {
	if err := e.seedExchange(); err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	if err := e.seedRespa(); err != nil {
		return fmt.Errorf("respa: %w", err)
	}
	return e.applyObjects(ctx)
}

func (e *Env) seedExchange() error {
	ex := e.Exchange
	var rooms []string
	for _, r := range Rooms {
		if _, err := ex.AddMailbox(r.Email, r.Title); err != nil {
			return err
		}
		rooms = append(rooms, r.Email)
	}
	for _, p := range []string{"alice", "bob", "carol"} {
		if _, err := ex.AddMailbox(p+"@"+domain, p); err != nil {
			return err
		}
	}
	if err := ex.AddAccount(exchangesim.Account{User: ExchangeAccount, Password: exchangePassword, Impersonate: rooms}); err != nil {
		return err
	}
	alice := exchangesim.Person{Name: "Alice Andersson", SMTP: "alice@" + domain}
	bob := exchangesim.Person{Name: "Bob Berg", SMTP: "bob@" + domain, RoutingType: "EX"}
	carol := exchangesim.Person{Name: "Carol Castrén", SMTP: "carol@" + domain}
	aurora, boreal := Rooms[0], Rooms[1]
	monday := tomorrowAt(1, 8, 30)
	for monday.Weekday() != time.Monday {
		monday = monday.AddDate(0, 0, 1)
	}
	events := []struct {
		room string
		ev   exchangesim.Event
	}{
		// A plain meeting booked in Outlook by an SMTP organizer.
		{aurora.Email, exchangesim.Event{Subject: "Board meeting", Body: "Quarterly review", Start: tomorrowAt(1, 9, 0), End: tomorrowAt(1, 10, 0), Organizer: alice,
			RequiredAttendees: []exchangesim.Person{alice, {Name: aurora.Title, SMTP: aurora.Email}}}},
		// A weekly series whose organizer comes as an EX (X500) address, resolved through ResolveNames.
		{aurora.Email, exchangesim.Event{Subject: "Weekly standup", Start: monday, End: monday.Add(30 * time.Minute), Organizer: bob,
			Recurrence: &exchangesim.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: []string{"Monday"}, StartDate: monday.Format("2006-01-02"), NumberOfOccurrences: 4}}},
		// Overlaps a reservation a Respa user already holds: Respa refuses it, and status says so.
		{aurora.Email, exchangesim.Event{Subject: "Sales sync", Start: tomorrowAt(1, 13, 30), End: tomorrowAt(1, 14, 30), Organizer: carol}},
		{boreal.Email, exchangesim.Event{Subject: "Design review", Start: tomorrowAt(1, 15, 0), End: tomorrowAt(1, 16, 0), Organizer: alice}},
	}
	for _, x := range events {
		if _, err := ex.CreateEvent(x.room, x.ev); err != nil {
			return fmt.Errorf("create %q: %w", x.ev.Subject, err)
		}
	}
	return nil
}

func (e *Env) seedRespa() error {
	rs := e.Respa
	rs.AddUnit(respasim.Unit{ID: "kaupungintalo", Name: map[string]string{"fi": "Kaupungintalo", "en": "City Hall"}, TimeZone: "Europe/Helsinki"})
	for _, r := range Rooms {
		rs.AddResource(respasim.Resource{ID: r.ResourceID, UnitID: "kaupungintalo", Name: map[string]string{"fi": r.Title, "en": r.Title}, Reservable: true, Public: true})
	}
	rs.AddUser(respasim.User{Username: "operator", DisplayName: "Exchange sync", Staff: true})
	rs.AddUser(respasim.User{Username: RespaUser, DisplayName: "Matti Meikäläinen", Email: "matti@" + domain})
	if err := rs.AddToken(respasim.Token{Kind: "Token", Key: respaStaffToken, Username: "operator"}); err != nil {
		return err
	}
	if err := rs.AddToken(respasim.Token{Kind: "Token", Key: respaUserToken, Username: RespaUser}); err != nil {
		return err
	}
	bookings := []respasim.ReservationRequest{
		{ResourceID: Rooms[0].ResourceID, Begin: tomorrowAt(1, 13, 0), End: tomorrowAt(1, 14, 0), EventSubject: "Sauna club", ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@" + domain},
		{ResourceID: Rooms[1].ResourceID, Begin: tomorrowAt(2, 10, 0), End: tomorrowAt(2, 11, 0), EventSubject: "Workshop", ReserverName: "Matti Meikäläinen", ReserverEmailAddress: "matti@" + domain},
	}
	for _, b := range bookings {
		if _, err := rs.CreateAs(RespaUser, b); err != nil {
			return fmt.Errorf("reserve %q: %w", b.EventSubject, err)
		}
	}
	return nil
}

func (e *Env) applyObjects(ctx context.Context) error {
	ns := e.Namespace
	create := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "exchange-service-account"}, StringData: map[string]string{"password": exchangePassword}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "respa-credentials"}, StringData: map[string]string{"token": respaStaffToken}},
		&v1alpha1.ExchangeMailbox{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "city-hall"},
			Spec: v1alpha1.ExchangeMailboxSpec{
				Exchange: v1alpha1.ExchangeEndpoint{
					URL: e.ExchangeURL + "/EWS/Exchange.asmx",
					Auth: v1alpha1.ExchangeAuth{Basic: &v1alpha1.PasswordAuth{
						Username:          ExchangeAccount,
						PasswordSecretRef: v1alpha1.SecretKeySelector{Name: "exchange-service-account", Key: "password"},
					}},
				},
				Respa: v1alpha1.RespaEndpoint{
					URL:                  e.RespaURL + "/v1/",
					CredentialsSecretRef: v1alpha1.SecretKeySelector{Name: "respa-credentials", Key: "token"},
				},
				Interval: metav1.Duration{Duration: time.Minute},
			},
		},
	}
	for _, r := range Rooms {
		create = append(create, &v1alpha1.ExchangeResource{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.Name},
			Spec: v1alpha1.ExchangeResourceSpec{
				MailboxRef:     v1alpha1.LocalObjectReference{Name: "city-hall"},
				Exchange:       v1alpha1.ResourceExchange{Email: r.Email},
				Respa:          v1alpha1.ResourceRespa{ResourceID: r.ResourceID},
				ResyncInterval: metav1.Duration{Duration: e.opts.ResyncInterval},
				Window:         v1alpha1.SyncWindow{Future: &metav1.Duration{Duration: 60 * 24 * time.Hour}},
			},
		})
	}
	for _, o := range create {
		if err := e.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}
